variable "region" {
  type        = string
  description = "AWS region"
  default     = "eu-west-1"
}

variable "environment" {
  type        = string
  description = "Name of this installation (prefix of every resource)"
  default     = "prod"
}

variable "image" {
  type        = string
  description = "The Migrayt image (one for API, workers and the migration task), e.g. 123.dkr.ecr.eu-west-1.amazonaws.com/migrayt:0.2.0"
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for the load balancer's HTTPS listener"
}

variable "api_host_name" {
  type        = string
  description = "The name users reach the API at (MIGRAYT_ALLOWED_HOSTS), e.g. migrayt.example.com"
}

variable "temporal_address" {
  type        = string
  description = "Temporal frontend host:port: a Temporal Cloud endpoint (<ns>.<account>.tmprl.cloud:7233) or your cluster"
}

variable "temporal_namespace" {
  type        = string
  description = "Temporal namespace (Temporal Cloud: <ns>.<account>)"
}

variable "temporal_tls" {
  type        = bool
  description = "TLS to Temporal (always on with a Temporal Cloud API key)"
  default     = true
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the VPC"
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  type        = list(string)
  description = "Two or more AZs: one public and one private subnet each"
  default     = ["eu-west-1a", "eu-west-1b"]
}

variable "api_count" {
  type        = number
  description = "API tasks"
  default     = 2
}

variable "worker_count" {
  type        = number
  description = "Worker tasks (scale here or with the autoscaling below)"
  default     = 2
}

variable "worker_max_count" {
  type        = number
  description = "Upper bound of worker autoscaling (CPU-based)"
  default     = 10
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class"
  default     = "db.t4g.medium"
}

variable "allowed_ingress_cidrs" {
  type        = list(string)
  description = "Who may reach the load balancer (HTTPS)"
  default     = ["0.0.0.0/0"]
}
