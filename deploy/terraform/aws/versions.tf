terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
  # Keep state in an encrypted remote backend: it holds the database password (see README.md).
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { Application = "migrayt", Environment = var.environment }
  }
}
