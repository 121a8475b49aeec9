# ECS Fargate: the API behind the load balancer, the workers, and a one-off migration task (run before a rollout).
resource "aws_ecs_cluster" "main" {
  name = "migrayt-${var.environment}"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/migrayt/${var.environment}/app"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  environment = [
    { name = "MIGRAYT_AUTH", value = "on" },
    { name = "MIGRAYT_TEMPORAL_ADDRESS", value = var.temporal_address },
    { name = "MIGRAYT_TEMPORAL_NAMESPACE", value = var.temporal_namespace },
    { name = "MIGRAYT_TEMPORAL_TLS", value = tostring(var.temporal_tls) },
    { name = "MIGRAYT_TASK_QUEUE", value = "migrayt-runs" },
    { name = "MIGRAYT_ALLOWED_HOSTS", value = var.api_host_name },
  ]
  secrets = concat(
    [{ name = "MIGRAYT_DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn }],
    [for name, secret in aws_secretsmanager_secret.shared : { name = name, valueFrom = secret.arn }],
  )
  container = {
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    environment            = local.environment
    secrets                = local.secrets
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp" }]
  }
  logs = { for role in ["api", "worker", "migrate"] : role => {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.app.name
      awslogs-region        = data.aws_region.current.name
      awslogs-stream-prefix = role
    }
  } }
}

resource "aws_iam_role" "execution" {
  name = "migrayt-${var.environment}-execution"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "ecs-tasks.amazonaws.com" } }]
  })
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# Only ECS (at task start) reads the secrets; the containers' own role has no AWS rights at all.
resource "aws_iam_role_policy" "execution_secrets" {
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = concat([aws_secretsmanager_secret.database_url.arn], [for s in aws_secretsmanager_secret.shared : s.arn])
      },
      { Effect = "Allow", Action = ["kms:Decrypt"], Resource = [aws_kms_key.main.arn] },
    ]
  })
}

resource "aws_iam_role" "task" {
  name = "migrayt-${var.environment}-task"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "ecs-tasks.amazonaws.com" } }]
  })
}

resource "aws_ecs_task_definition" "api" {
  family                   = "migrayt-${var.environment}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  volume { name = "tmp" }
  container_definitions = jsonencode([merge(local.container, {
    name             = "api"
    command          = ["api"]
    portMappings     = [{ containerPort = 8000, protocol = "tcp" }]
    logConfiguration = local.logs["api"]
    healthCheck      = { command = ["CMD", "migrayt", "probe", "api"], interval = 30, timeout = 10, retries = 3, startPeriod = 60 }
  })])
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "migrayt-${var.environment}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  volume { name = "tmp" }
  container_definitions = jsonencode([merge(local.container, {
    name             = "worker"
    command          = ["worker"]
    stopTimeout      = 60
    logConfiguration = local.logs["worker"]
    healthCheck      = { command = ["CMD", "migrayt", "probe", "worker"], interval = 60, timeout = 20, retries = 3, startPeriod = 120 }
  })])
}

# Run once before each rollout (README.md): the schema, then the search attributes.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "migrayt-${var.environment}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  volume { name = "tmp" }
  container_definitions = jsonencode([
    merge(local.container, {
      name = "db-upgrade", command = ["db", "upgrade"], essential = false, logConfiguration = local.logs["migrate"]
    }),
    merge(local.container, {
      name             = "setup-temporal"
      command          = ["setup", "temporal"]
      dependsOn        = [{ containerName = "db-upgrade", condition = "SUCCESS" }]
      logConfiguration = local.logs["migrate"]
    }),
  ])
}

resource "aws_ecs_service" "api" {
  name                   = "migrayt-api"
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.api.arn
  desired_count          = var.api_count
  launch_type            = "FARGATE"
  enable_execute_command = false
  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "api"
    container_port   = 8000
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
}

resource "aws_ecs_service" "worker" {
  name                   = "migrayt-worker"
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.worker.arn
  desired_count          = var.worker_count
  launch_type            = "FARGATE"
  enable_execute_command = false
  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  lifecycle {
    ignore_changes = [desired_count] # owned by the autoscaling below once running
  }
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker_count
  max_capacity       = var.worker_max_count
}

# ECS has no Temporal backlog metric of its own: workers scale on CPU here (publishing the task queue's
# backlog as a CloudWatch metric and scaling on it is the better signal; see README.md).
resource "aws_appautoscaling_policy" "worker_cpu" {
  name               = "migrayt-${var.environment}-worker-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = 60
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
