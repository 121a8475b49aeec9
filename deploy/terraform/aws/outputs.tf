output "api_url" {
  description = "Point api_host_name's DNS record (CNAME/alias) at load_balancer_dns_name"
  value       = "https://${var.api_host_name}"
}

output "load_balancer_dns_name" {
  value = aws_lb.api.dns_name
}

output "cluster_name" {
  value = aws_ecs_cluster.main.name
}

output "migrate_task_definition" {
  description = "Run it before each rollout (README.md)"
  value       = aws_ecs_task_definition.migrate.arn
}

output "private_subnet_ids" {
  value = aws_subnet.private[*].id
}

output "task_security_group_id" {
  value = aws_security_group.tasks.id
}

output "shared_key_secret_arns" {
  description = "Put MIGRAYT_CODEC_KEYS, MIGRAYT_SECRET_KEY, MIGRAYT_ADMIN_TOKEN (and the Temporal API key) here once"
  value       = { for name, secret in aws_secretsmanager_secret.shared : name => secret.arn }
}
