"""Helpers for tests that need the sandbox over real HTTP.

from migrayt.sandbox.testing import running_sandbox, SandboxAdmin

@pytest.fixture(scope="session")
def sandbox():
    with running_sandbox(items=50) as server:
        yield server

async def test_something(sandbox):
    async with SandboxAdmin.for_jira(sandbox) as jira:
        await jira.set_faults(share_429=0.2)
        ...
        assert (await jira.state())["issues"] ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import httpx

from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.server import SandboxServer, build_sandbox

if TYPE_CHECKING:
    from migrayt.sandbox.generator import ProjectSpec

ADMIN_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@contextmanager
def running_sandbox(
    spec: ProjectSpec | None = None,
    *,
    items: int = 50,
    seed: int = 7,
    ado_faults: FaultConfig | None = None,
    jira_faults: FaultConfig | None = None,
    ado_port: int = 0,
    jira_port: int = 0,
    xray_port: int = 0,
    **build_options: Any,
) -> Iterator[SandboxServer]:
    """Both services on free ports (unless given) for the block; `items`/`seed` when no spec is given.

    `build_options` go to `build_sandbox` (credentials, project_key, jira_state_dir, jira_options).
    The sandbox Jira is Cloud-like (1 GB per file); here, unless `jira_options` sets `max_attachment_bytes`, it
    takes Data Center's 10 MB so the generator's planted too-large file (10 MB + 123 KB) is refused, the case
    most tests check. A test of real-size files sets `CLOUD_ATTACHMENT_BYTES` (or any limit) explicitly.
    """
    from migrayt.sandbox.jira.config import DATA_CENTER_ATTACHMENT_BYTES

    if spec is None:
        from migrayt.sandbox.generator import ProjectSpec

        spec = ProjectSpec(seed=seed, items=items)
    jira_options = {
        "max_attachment_bytes": DATA_CENTER_ATTACHMENT_BYTES,
        **(build_options.pop("jira_options", None) or {}),
    }
    sandbox = build_sandbox(
        spec, ado_faults=ado_faults, jira_faults=jira_faults, jira_options=jira_options, **build_options
    )
    with SandboxServer(sandbox, ado_port=ado_port, jira_port=jira_port, xray_port=xray_port) as server:
        yield server


class SandboxAdmin:
    """The no-auth admin side of one service: `/_sandbox/state` and `/_sandbox/faults`."""

    def __init__(self, root_url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(base_url=root_url, timeout=ADMIN_TIMEOUT)
        self._root = root_url.rstrip("/")

    @classmethod
    def for_service(cls, server: SandboxServer, service: Literal["ado", "jira", "xray"]) -> SandboxAdmin:
        if service == "xray":
            if server.xray_url is None:
                raise ValueError("this sandbox has no Xray")
            return cls(server.xray_url)
        return cls(server.ado_root if service == "ado" else server.jira_url)

    @classmethod
    def for_ado(cls, server: SandboxServer) -> SandboxAdmin:
        return cls.for_service(server, "ado")

    @classmethod
    def for_jira(cls, server: SandboxServer) -> SandboxAdmin:
        return cls.for_service(server, "jira")

    @classmethod
    def for_xray(cls, server: SandboxServer) -> SandboxAdmin:
        return cls.for_service(server, "xray")

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._client.request(method, f"{self._root}{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    async def state(self) -> dict[str, Any]:
        return await self._call("GET", "/_sandbox/state")

    async def faults(self) -> dict[str, Any]:
        """`{"config": {...}, "counters": {...}}`."""
        return await self._call("GET", "/_sandbox/faults")

    async def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change some fault settings, keep the others."""
        return await self._call("PATCH", "/_sandbox/faults", json=changes)

    async def replace_faults(self, config: FaultConfig | None = None) -> dict[str, Any]:
        """Replace all fault settings; no argument switches every fault off."""
        return await self._call("PUT", "/_sandbox/faults", json=(config or FaultConfig()).model_dump())

    async def reset_counters(self) -> dict[str, Any]:
        return await self._call("DELETE", "/_sandbox/faults/counters")

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> SandboxAdmin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def sandbox_state(root_url: str) -> dict[str, Any]:
    """Blocking read of `/_sandbox/state`, for sync tests and scripts."""
    with httpx.Client(timeout=ADMIN_TIMEOUT) as client:
        response = client.get(f"{root_url.rstrip('/')}/_sandbox/state")
        response.raise_for_status()
        return response.json()


def set_faults(root_url: str, **changes: Any) -> dict[str, Any]:
    """Blocking PATCH of `/_sandbox/faults`."""
    with httpx.Client(timeout=ADMIN_TIMEOUT) as client:
        response = client.patch(f"{root_url.rstrip('/')}/_sandbox/faults", json=changes)
        response.raise_for_status()
        return response.json()
