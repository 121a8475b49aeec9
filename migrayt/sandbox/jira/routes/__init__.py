"""The sandbox Jira site's HTTP routes, one module per resource; each reads the site through `deps`."""
