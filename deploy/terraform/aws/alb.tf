# The API behind an Application Load Balancer with TLS (ACM certificate); plain HTTP only redirects.
resource "aws_lb" "api" {
  #checkov:skip=CKV_AWS_91:access logs need an S3 bucket of your organisation's log archive; set access_logs here when you have one
  #checkov:skip=CKV2_AWS_28:attach your WAF web ACL (aws_wafv2_web_acl_association); Migrayt's API authenticates every request itself
  name                       = "migrayt-${var.environment}"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  # Live progress streams (Server-Sent Events) stay open: keep idle connections for 5 minutes.
  idle_timeout = 300
}

resource "aws_lb_target_group" "api" {
  name        = "migrayt-${var.environment}-api"
  port        = 8000
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.main.id
  # /readyz answers any Host (the ALB's health checks name the task's IP): out of rotation while the
  # database or Temporal is unreachable, without the task being replaced.
  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
  deregistration_delay = 30
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}
