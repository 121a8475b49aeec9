"""The ports the embedded stack picks for itself must not be ones an outgoing connection can hold.

Found in CI: the Temporal dev server failed with "bind: address already in use" on the UI port
free_port() had chosen, because bind(0) hands out ports from the ephemeral range that every
outgoing connection (and the dev server's own internal listeners) draws from as well."""

from __future__ import annotations

import socket

from migrayt.stack.ports import _ephemeral_range, free_port, port_is_free


def test_picked_ports_lie_below_the_range_outgoing_connections_use():
    low, _high = _ephemeral_range()
    picks = {free_port() for _ in range(50)}
    assert all(port < low for port in picks), sorted(p for p in picks if p >= low)
    assert len(picks) > 1  # random, so two stacks starting together rarely pick alike
    assert all(port_is_free(port) for port in picks)


def test_a_port_someone_listens_on_is_never_picked():
    listeners = []
    try:
        for _ in range(20):
            port = free_port()
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
            listeners.append(sock)
        held = {s.getsockname()[1] for s in listeners}
        assert len(held) == 20
        assert not held & {free_port() for _ in range(50)}
    finally:
        for sock in listeners:
            sock.close()
