"""Serving the sandbox: ports, the `migrayt sandbox` command, and the real apps behind the faults."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from migrayt.sandbox.server import BackgroundServer, PortInUseError, bind_socket

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    return app


def test_a_busy_port_is_a_clear_error_naming_it(busy_port: int) -> None:
    with pytest.raises(PortInUseError, match=rf"port {busy_port} .*already in use"):
        bind_socket("127.0.0.1", busy_port)


def test_a_busy_second_port_releases_the_first(busy_port: int) -> None:
    free = bind_socket("127.0.0.1", 0)
    first_port = free.getsockname()[1]
    free.close()
    server = BackgroundServer({"ado": (hello_app(), first_port), "jira": (hello_app(), busy_port)})
    with pytest.raises(PortInUseError, match=str(busy_port)):
        server.start()
    # Nothing left half-bound: the first port can be served right away.
    with BackgroundServer({"ado": (hello_app(), first_port)}) as again:
        assert again.ports["ado"] == first_port


async def test_background_server_serves_on_free_ports_and_stops() -> None:
    server = BackgroundServer({"a": (hello_app(), 0), "b": (hello_app(), 0)})
    with server:
        assert server.ports["a"] != server.ports["b"]
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            for name in ("a", "b"):
                response = await client.get(f"{server.url(name)}/hello")
                assert response.json() == {"hello": "world"}
        url = server.url("a")
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/hello")
