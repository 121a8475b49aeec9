"""Child processes of the embedded stack: started so they never outlive us.

Two guards against orphans:
- an `atexit` hook stops every server still running when Python exits normally;
- on Linux, the kernel's parent-death signal stops them when Python dies abruptly (SIGKILL).
  That signal fires when the *thread* that forked the child ends, so every child is forked by one
  long-lived spawner thread, never by a short-lived one (e.g. `asyncio.to_thread`).
Children get their own session, so Ctrl-C in the terminal reaches only us and we shut them down in
order (worker first, then Temporal, then PostgreSQL).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

_PR_SET_PDEATHSIG = 1


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def _parent_death_signal(sig: int):
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def _set() -> None:  # runs in the child between fork and exec (after any uid change)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return _set


class _Spawner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def popen(self, args: list[str], death_signal: int, **kwargs: Any) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="migrayt-stack-spawner", daemon=True)
                self._thread.start()
        done: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((args, death_signal, kwargs, done))
        return done.result()

    def _loop(self) -> None:
        while True:
            args, death_signal, kwargs, done = self._jobs.get()
            try:
                proc = subprocess.Popen(
                    args, preexec_fn=_parent_death_signal(death_signal), start_new_session=True, **kwargs
                )
            except BaseException as exc:  # handed to the caller's thread
                done.set_exception(exc)
            else:
                done.set_result(proc)


_spawner = _Spawner()


def spawn(args: list[str], *, log_path: Path, death_signal: int = signal.SIGTERM, **kwargs: Any) -> subprocess.Popen:
    """Start a server process, its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return _spawner.popen(
            args, death_signal, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **kwargs
        )


def log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def end_process(proc: subprocess.Popen | None, sig: int, timeout: float) -> None:
    """Send `sig`, wait up to `timeout`, then SIGKILL. No-op when it has already exited."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


# Servers started by this process and not yet stopped; stopped at interpreter exit.
_running: dict[int, _Stoppable] = {}
_running_lock = threading.Lock()


def track(server: _Stoppable) -> None:
    with _running_lock:
        _running[id(server)] = server


def untrack(server: _Stoppable) -> None:
    with _running_lock:
        _running.pop(id(server), None)


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        servers = list(_running.values())
    # Temporal before PostgreSQL is not required (they are independent) but stopping newest
    # first mirrors the order a stack is usually started in.
    for server in reversed(servers):
        try:
            server.stop()
        except Exception as exc:  # exiting anyway; say so rather than hide it
            print(f"migrayt: could not stop {server!r}: {exc}", file=sys.stderr)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def start_all(*servers: Any) -> None:
    """Start servers side by side (they do not depend on each other); if one fails, stop the others."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        futures = [pool.submit(server.start) for server in servers]
    errors = [error for f in futures if (error := f.exception()) is not None]
    if errors:
        for server in servers:
            server.stop()
        raise errors[0]
