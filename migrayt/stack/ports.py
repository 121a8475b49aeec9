"""Local TCP ports for the embedded stack: pick a free one, or refuse a busy one clearly."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

LOCALHOST = "127.0.0.1"
# Above the well-known and most registered service ports; see free_port.
_PICK_FLOOR = 20000
_random = random.SystemRandom()


class StackError(RuntimeError):
    """The embedded stack could not be started or stopped."""


class PortInUseError(StackError):
    def __init__(self, port: int, what: str, host: str = LOCALHOST) -> None:
        self.port = port
        self.what = what
        super().__init__(
            f"{what}: port {port} is already in use on {host}. Stop whatever listens there, "
            f"or choose another port (see the MIGRAYT_*_PORT settings)."
        )


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default; macOS uses 49152-65535, also above our picks


def free_port(host: str = LOCALHOST) -> int:
    """A port nobody listens on right now, chosen below the OS's ephemeral range.

    Why not bind(0): that port comes from the ephemeral range, which every outgoing connection
    (and the Temporal dev server's own internal listeners) also draws from, so between our pick and
    the server's bind another socket could take it ("address already in use" at start-up).
    Below the range only another explicit pick can collide, and a random one rarely does."""
    low, _high = _ephemeral_range()
    top = min(low, 65536)
    candidates = list(range(_PICK_FLOOR, top)) if top - _PICK_FLOOR >= 1000 else []
    for port in _random.sample(candidates, min(len(candidates), 200)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        if not port_accepts(port, host, timeout=0.2):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    # SO_REUSEADDR so a port left in TIME_WAIT by our own previous server (a restart) counts as
    # free — PostgreSQL and Temporal set it too, so they can bind it; a live listener still fails.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    # A listener on another address of the same port (0.0.0.0, ::) may not block the bind above.
    return not port_accepts(port, host, timeout=0.2)


def ensure_port_free(port: int, what: str, host: str = LOCALHOST) -> None:
    if not port_is_free(port, host):
        raise PortInUseError(port, what, host)


def port_accepts(port: int, host: str = LOCALHOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, host: str = LOCALHOST, timeout: float = 30.0, alive=lambda: True) -> bool:
    """True once something accepts connections on the port; False on timeout or when `alive()` says
    the process that should listen is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_accepts(port, host, timeout=0.5):
            return True
        if not alive():
            return False
        time.sleep(0.05)
    return False
