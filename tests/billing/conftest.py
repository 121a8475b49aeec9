# The engine's stack fixtures (embedded PostgreSQL, Temporal dev server, worker), shared as they are.
from tests.integration.conftest import postgres, stack, temporal_server, worker  # noqa: F401
