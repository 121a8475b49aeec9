# The engine's real parts (embedded PostgreSQL, Temporal dev server, service, in-process worker).
from tests.integration.conftest import postgres, stack, temporal_server, worker  # noqa: F401
