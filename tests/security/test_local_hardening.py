"""Local hardening (issue 12): the embedded PostgreSQL asks for a password and listens on loopback only,
its files and Temporal's database are the owner's alone, and a weak admin token is refused at start."""

from __future__ import annotations

import pwd
import secrets
import stat
import subprocess
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr, ValidationError

from migrayt.api.app import create_app
from migrayt.settings import Settings
from migrayt.stack import TemporalDevServer, free_port
from migrayt.stack._process import is_root
from migrayt.stack.postgres import PASSWORD_FILE, POSTGRES_BIN_PATH, SYSTEM_USER, EmbeddedPostgres, _as_user

pytestmark = pytest.mark.timeout(120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def refused_without_the_password(pg: EmbeddedPostgres) -> None:
    for password in (None, "", "wrong-" + secrets.token_hex(8)):
        with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
            await asyncpg.connect(host=pg.host, port=pg.port, user="postgres", database="postgres", password=password)


async def test_embedded_postgres_asks_for_its_generated_password_and_keeps_its_files_private(pg_home):
    with EmbeddedPostgres(pg_home / "pg", fsync=False) as pg:
        await refused_without_the_password(pg)
        conn = await asyncpg.connect(pg.dsn)
        try:
            assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
            stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
            assert stored.startswith("SCRAM-SHA-256$")
        finally:
            await conn.close()
        assert mode(pg.data_dir / PASSWORD_FILE) == 0o600
        assert mode(pg.data_dir) == 0o700 and mode(pg.pgdata) == 0o700
        assert (pg.data_dir / PASSWORD_FILE).read_text().strip() == pg.password and len(pg.password) >= 43
        assert pg.password not in (pg.data_dir / "postgres.log").read_text()


def downgrade_to_older_code(pg: EmbeddedPostgres) -> None:
    """What a data folder made before this change looks like: trust for every local connection, no password."""
    (pg.pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n")
    (pg.data_dir / PASSWORD_FILE).unlink()
    user = pwd.getpwnam(SYSTEM_USER) if is_root() else None
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "postgres"), "--single", "-D", str(pg.pgdata), "postgres"],
        input="ALTER ROLE postgres PASSWORD NULL;\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        **_as_user(user),
    )
    (pg.data_dir).chmod(0o755)
    (pg.pgdata).chmod(0o750)


async def test_a_data_folder_of_older_code_gets_a_password_and_keeps_its_data(pg_home):
    with EmbeddedPostgres(pg_home / "pg", fsync=False) as pg:
        conn = await asyncpg.connect(pg.dsn)
        await conn.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('from before')")
        await conn.close()
    downgrade_to_older_code(pg)
    with EmbeddedPostgres(pg_home / "pg", fsync=False) as old:
        # Before: the old cluster let anyone in. After the start: the password it was given is required.
        await refused_without_the_password(old)
        conn = await asyncpg.connect(old.dsn)
        try:
            assert await conn.fetchval("SELECT note FROM kept") == "from before"
        finally:
            await conn.close()
        assert mode(old.data_dir / PASSWORD_FILE) == 0o600 and mode(old.data_dir) == 0o700 and mode(old.pgdata) == 0o700
    with EmbeddedPostgres(pg_home / "pg", fsync=False) as again:  # and the next start needs nothing more
        await refused_without_the_password(again)
        await (await asyncpg.connect(again.dsn)).close()


def test_temporal_database_file_is_the_owners_alone(tmp_path):
    server = TemporalDevServer(tmp_path / "temporal", port=free_port(), headless=True)
    with server:
        assert server.db_path.exists()
        assert mode(server.db_path) == 0o600 and mode(server.state_dir) == 0o700
        for sidecar in server.state_dir.glob("temporal.db-*"):
            assert mode(sidecar) == 0o600, sidecar
    server.db_path.chmod(0o644)  # a database file made by older code
    server.state_dir.chmod(0o755)
    with server:
        assert mode(server.db_path) == 0o600 and mode(server.state_dir) == 0o700


# Stable ids: parallel test workers must collect the same names, and a token never belongs in a test's name.
@pytest.mark.parametrize(
    "weak",
    ["changeme", "admin-" + secrets.token_hex(12), "a" * 200, "0123456789" * 5],
    ids=["common-word", "short-random", "one-letter", "digit-run"],
)
def test_a_weak_admin_token_is_refused_at_start(weak, monkeypatch):
    monkeypatch.setenv("MIGRAYT_ADMIN_TOKEN", weak)
    with pytest.raises(ValidationError, match="MIGRAYT_ADMIN_TOKEN is too weak") as refused:
        Settings()
    assert weak not in str(refused.value)  # never echoed into a log
    with pytest.raises(ValueError, match="too weak"):  # settings made without validation are checked at start too
        create_app(Settings(_env_file=None, admin_token=None).model_copy(update={"admin_token": SecretStr(weak)}))


@pytest.mark.parametrize(
    "strong",
    [secrets.token_urlsafe(32), secrets.token_hex(32), "admin-" + secrets.token_hex(32)],
    ids=["urlsafe-256-bit", "hex-256-bit", "prefixed-hex-256-bit"],
)
def test_a_strong_admin_token_is_accepted(strong, monkeypatch):
    monkeypatch.setenv("MIGRAYT_ADMIN_TOKEN", strong)
    assert Settings().admin_token.get_secret_value() == strong
