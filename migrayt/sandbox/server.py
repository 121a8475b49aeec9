"""Put the sandbox ADO and Jira together and serve them over real HTTP.

`build_sandbox` composes the generated project, both apps and their fault controllers;
`SandboxServer` serves them on two ports from a background thread (its own event loop), so
tests, the demo and `migrayt sandbox` all run the very same thing.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.types import ASGIApp

from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.faults import FaultController, FaultMiddleware

if TYPE_CHECKING:
    from migrayt.sandbox.generator import GeneratedProject, ProjectSpec

from migrayt.sandbox.defaults import (
    DEFAULT_ADO_PAT,
    DEFAULT_HOST,
    DEFAULT_JIRA_EMAIL,
    DEFAULT_JIRA_TOKEN,
    DEFAULT_PROJECT_KEY,
    DEFAULT_XRAY_CLIENT_ID,
    DEFAULT_XRAY_CLIENT_SECRET,
)  # noqa: F401 (re-exported)

# Fixed namespace so a user's Jira accountId is the same on every run with the same seed.
_ACCOUNT_NAMESPACE = uuid.UUID("6f1c2d0e-5b7a-4e55-9a43-3a1f0c9d7e21")


class PortInUseError(RuntimeError):
    """A sandbox port is taken by another process."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"port {port} on {host} is already in use; pick another port (0 picks a free one)")
        self.host = host
        self.port = port


def jira_account_id(unique_name: str) -> str:
    """Deterministic accountId in the shape Jira Cloud uses (`557058:<uuid>`)."""
    return f"557058:{uuid.uuid5(_ACCOUNT_NAMESPACE, unique_name.lower())}"


@dataclass
class Sandbox:
    """Both services, ready to serve: ASGI apps already wrapped by their fault middleware."""

    project: GeneratedProject
    ado_app: ASGIApp
    jira_app: ASGIApp
    ado_faults: FaultController
    jira_faults: FaultController
    organization: str
    project_name: str
    project_key: str
    ado_pat: str = field(repr=False)
    jira_email: str
    jira_token: str = field(repr=False)
    # Xray Cloud on the Jira site (None: a site without Xray)
    xray_app: ASGIApp | None = None
    xray_faults: FaultController | None = None
    xray_client_id: str = DEFAULT_XRAY_CLIENT_ID
    xray_client_secret: str = field(default=DEFAULT_XRAY_CLIENT_SECRET, repr=False)
    # Where the services answer once served (Xray's import result links to Jira issues)
    urls: dict[str, str] = field(default_factory=dict)


def jira_users_from(project: GeneratedProject) -> list[Any]:
    """The ADO users who also have a Jira account; some hide their email, as in real sites."""
    from migrayt.sandbox.jira.app import JiraUserSeed

    seeds = []
    for user in project.users:
        if not user.in_jira:
            continue
        seeds.append(
            JiraUserSeed(
                account_id=jira_account_id(user.unique_name),
                display_name=user.display_name,
                email=user.email,
                email_visible=bool(user.jira_email_visible and user.email),
                active=not user.deleted,
            )
        )
    return seeds


def build_sandbox(
    spec: ProjectSpec,
    *,
    ado_pat: str = DEFAULT_ADO_PAT,
    jira_email: str = DEFAULT_JIRA_EMAIL,
    jira_token: str = DEFAULT_JIRA_TOKEN,
    project_key: str = DEFAULT_PROJECT_KEY,
    jira_state_dir: Path | None = None,
    ado_faults: FaultConfig | None = None,
    jira_faults: FaultConfig | None = None,
    jira_options: Mapping[str, Any] | None = None,
    xray: bool = True,
    xray_faults: FaultConfig | None = None,
    xray_client_id: str = DEFAULT_XRAY_CLIENT_ID,
    xray_client_secret: str = DEFAULT_XRAY_CLIENT_SECRET,
) -> Sandbox:
    """`jira_options`: further `JiraSandboxConfig` fields (limits such as attachment size);
    `xray`: whether Xray Cloud is installed on the Jira site."""
    from migrayt.sandbox.ado.app import AdoSandboxConfig, create_ado_app
    from migrayt.sandbox.generator import GeneratedProject
    from migrayt.sandbox.jira.app import JiraSandboxConfig, create_jira_app

    project = GeneratedProject(spec)
    ado_controller = FaultController(ado_faults)
    jira_controller = FaultController(jira_faults)

    ado_app = create_ado_app(project, AdoSandboxConfig(pat=ado_pat), ado_controller.get_config)
    jira_config = JiraSandboxConfig(
        **{
            "email": jira_email,
            "api_token": jira_token,
            "project_key": project_key,
            "project_name": spec.project,
            "state_dir": jira_state_dir,
            "users": jira_users_from(project),
            **dict(jira_options or {}),
        }
    )
    jira_app = create_jira_app(jira_config, jira_controller.get_config)
    # Faults that cut a transfer part-way (a dropped download, a throttled upload) are the routes' to inject.
    ado_app.state.fault_controller = ado_controller
    jira_app.state.fault_controller = jira_controller
    # A Jira that keeps only the digest of a large upload serves its bytes again from the generator.
    jira_app.state.known_content = project.large_attachment_content
    urls: dict[str, str] = {}
    xray_app: ASGIApp | None = None
    xray_controller: FaultController | None = None
    if xray:
        from migrayt.sandbox.xray.app import create_xray_app

        xray_controller = FaultController(xray_faults)
        raw_xray = create_xray_app(
            jira_app.state.jira,
            client_id=xray_client_id,
            client_secret=xray_client_secret,
            jira_base_url=lambda: urls.get("jira", ""),
            get_faults=xray_controller.get_config,
        )
        xray_app = FaultMiddleware(raw_xray, xray_controller, "xray")
    return Sandbox(
        project=project,
        ado_app=FaultMiddleware(ado_app, ado_controller, "ado"),
        jira_app=FaultMiddleware(jira_app, jira_controller, "jira"),
        ado_faults=ado_controller,
        jira_faults=jira_controller,
        organization=spec.organization,
        project_name=spec.project,
        project_key=project_key,
        ado_pat=ado_pat,
        jira_email=jira_email,
        jira_token=jira_token,
        xray_app=xray_app,
        xray_faults=xray_controller,
        xray_client_id=xray_client_id,
        xray_client_secret=xray_client_secret,
        urls=urls,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so a busy port is a clear error and port 0 resolves at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP, and without it Nagle + delayed ACK cost ~40 ms per request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # Lets a restarted sandbox reuse a port still in TIME_WAIT; a live listener still fails.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUseError(host, port) from None
        raise
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """Serves named ASGI apps, each on its own port, from one thread with its own event loop."""

    def __init__(
        self,
        apps: Mapping[str, tuple[ASGIApp, int]],
        *,
        host: str = DEFAULT_HOST,
        log_level: str = "warning",
        access_log: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self._apps = dict(apps)
        self._log_level = log_level
        self._access_log = access_log
        self._startup_timeout = startup_timeout
        self._sockets: dict[str, socket.socket] = {}
        self._servers: dict[str, uvicorn.Server] = {}
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.ports: dict[str, int] = {}

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        try:
            for name, (_, port) in self._apps.items():
                sock = bind_socket(self.host, port)
                self._sockets[name] = sock
                self.ports[name] = sock.getsockname()[1]
        except BaseException:
            self._close_sockets()
            raise
        for name, (app, _) in self._apps.items():
            config = uvicorn.Config(
                app,
                host=self.host,
                port=self.ports[name],
                log_level=self._log_level,
                access_log=self._access_log,
                # Leave the host process's logging alone (pytest, the CLI) instead of dictConfig'ing it.
                log_config=None,
                lifespan="auto",
                timeout_graceful_shutdown=3,
            )
            self._servers[name] = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="migrayt-sandbox", daemon=True)
        self._thread.start()
        self._wait_started()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # SystemExit included: uvicorn exits on a failed startup
            self._failure = exc

    async def _serve(self) -> None:
        await asyncio.gather(*(server.serve(sockets=[self._sockets[name]]) for name, server in self._servers.items()))

    def _wait_started(self) -> None:
        assert self._thread is not None
        deadline = threading.Event()
        waited = 0.0
        while not all(server.started for server in self._servers.values()):
            if not self._thread.is_alive() or waited >= self._startup_timeout:
                self.stop()
                reason = f": {self._failure!r}" if self._failure else ""
                raise RuntimeError(f"sandbox did not start{reason}")
            deadline.wait(0.02)
            waited += 0.02

    def stop(self, timeout: float = 10.0) -> None:
        for server in self._servers.values():
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxServer(BackgroundServer):
    """ADO at `http://host:port/{organization}`, Jira at `http://host:port`, Xray Cloud (if installed) likewise."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        ado_port: int = 0,
        jira_port: int = 0,
        xray_port: int = 0,
        host: str = DEFAULT_HOST,
        log_level: str = "warning",
        access_log: bool = False,
    ) -> None:
        apps: dict[str, tuple[ASGIApp, int]] = {
            "ado": (sandbox.ado_app, ado_port),
            "jira": (sandbox.jira_app, jira_port),
        }
        if sandbox.xray_app is not None:
            apps["xray"] = (sandbox.xray_app, xray_port)
        super().__init__(
            apps,
            host=host,
            log_level=log_level,
            access_log=access_log,
        )
        self.sandbox = sandbox

    @property
    def ado_root(self) -> str:
        """Where ADO's admin endpoints live (`/_sandbox/*` sits at the server root)."""
        return self.url("ado")

    @property
    def ado_url(self) -> str:
        return f"{self.url('ado')}/{self.sandbox.organization}"

    @property
    def jira_url(self) -> str:
        return self.url("jira")

    @property
    def xray_url(self) -> str | None:
        """Xray Cloud's base URL (its API lives under `/api/v2`); None on a site without Xray."""
        return self.url("xray") if "xray" in self.ports else None

    def start(self) -> None:
        super().start()
        self.sandbox.urls.update({name: self.url(name) for name in self.ports})

    def __enter__(self) -> SandboxServer:
        self.start()
        return self
