"""Metrics of a Migrayt process: the Temporal SDK's and Migrayt's own, on one Prometheus endpoint."""
