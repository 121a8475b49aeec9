"""The sandbox's public defaults, in a module of their own so `migrayt sandbox --help` need not load the servers."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_ADO_PAT = "sandbox-pat"
DEFAULT_JIRA_EMAIL = "migrator@example.com"
DEFAULT_JIRA_TOKEN = "sandbox-token"
DEFAULT_PROJECT_KEY = "PHX"
DEFAULT_XRAY_CLIENT_ID = "sandbox-xray-client"
DEFAULT_XRAY_CLIENT_SECRET = "sandbox-xray-secret"
