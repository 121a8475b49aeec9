"""Running Migrayt on real infrastructure: `migrayt api`, `migrayt db upgrade`, `migrayt setup temporal`,
`migrayt probe`, and the API's /healthz and /readyz. The files that use them live in `deploy/`."""
