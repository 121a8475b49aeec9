# PostgreSQL (RDS) and the secrets every task reads (Secrets Manager), encrypted with one KMS key.
data "aws_caller_identity" "current" {}

resource "aws_kms_key" "main" {
  description         = "migrayt-${var.environment}: database, secrets, logs"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_db_subnet_group" "main" {
  name       = "migrayt-${var.environment}"
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "main" {
  name   = "migrayt-${var.environment}-pg16"
  family = "postgres16"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "random_password" "db" {
  length  = 40
  special = false # it goes into a URL
}

resource "aws_db_instance" "main" {
  identifier                          = "migrayt-${var.environment}"
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.db_instance_class
  allocated_storage                   = 50
  max_allocated_storage               = 500
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.main.arn
  db_name                             = "migrayt"
  username                            = "migrayt"
  password                            = random_password.db.result
  db_subnet_group_name                = aws_db_subnet_group.main.name
  parameter_group_name                = aws_db_parameter_group.main.name
  vpc_security_group_ids              = [aws_security_group.db.id]
  publicly_accessible                 = false
  multi_az                            = true
  backup_retention_period             = 14
  deletion_protection                 = true
  copy_tags_to_snapshot               = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "migrayt-${var.environment}-final"
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.main.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
}

resource "aws_iam_role" "rds_monitoring" {
  name = "migrayt-${var.environment}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "monitoring.rds.amazonaws.com" } }]
  })
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# The database URL: made here (its password is in the state: keep the state encrypted).
resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:rotating the password means rewriting the URL and restarting tasks; do it by a change of random_password
  name       = "migrayt/${var.environment}/database-url"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = "postgresql+asyncpg://migrayt:${random_password.db.result}@${aws_db_instance.main.address}:5432/migrayt?ssl=require"
}

# The keys every API and worker task shares. Terraform creates the secrets, never their values (they stay out
# of the state): put them once with `aws secretsmanager put-secret-value` (README.md), before the first deploy.
locals {
  shared_keys = {
    MIGRAYT_CODEC_KEYS       = "codec-keys"
    MIGRAYT_SECRET_KEY       = "secret-key"
    MIGRAYT_ADMIN_TOKEN      = "admin-token"
    MIGRAYT_TEMPORAL_API_KEY = "temporal-api-key"
  }
}

resource "aws_secretsmanager_secret" "shared" {
  #checkov:skip=CKV2_AWS_57:codec keys rotate by hand (new key first, old kept while histories need it): a rotation lambda would lose payloads
  for_each   = local.shared_keys
  name       = "migrayt/${var.environment}/${each.value}"
  kms_key_id = aws_kms_key.main.arn
}
