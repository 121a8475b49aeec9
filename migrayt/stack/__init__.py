"""The embedded stack: PostgreSQL and the Temporal dev server, started by Migrayt itself.

Both servers are child processes of the Python process that starts them: their output goes to
log files under the state folder, and they stop when that process exits (normally or not).
"""

from migrayt.stack._process import start_all
from migrayt.stack.ports import PortInUseError, StackError, ensure_port_free, free_port
from migrayt.stack.postgres import EmbeddedPostgres
from migrayt.stack.temporal import SEARCH_ATTRIBUTES, TemporalDevServer

__all__ = [
    "SEARCH_ATTRIBUTES",
    "EmbeddedPostgres",
    "PortInUseError",
    "StackError",
    "TemporalDevServer",
    "ensure_port_free",
    "free_port",
    "start_all",
]
