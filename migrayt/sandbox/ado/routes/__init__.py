"""The sandbox ADO's HTTP routes, one module per resource; each reads the organization through `deps`."""
