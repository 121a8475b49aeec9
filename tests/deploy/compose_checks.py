"""What a compose file for Migrayt must hold, as a list of problems (empty: fine)."""

from __future__ import annotations

import re
from typing import Any

# Variable names that carry secrets; their value must come from an env file or a secret, never the compose file.
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY|CODEC_KEYS|DATABASE_URL|PRIVATE", re.IGNORECASE)
FLAG_VALUES = {"true", "false", "0", "1", ""}
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
MIGRAYT_COMMANDS = {"api", "worker", "db", "setup"}


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict((item.split("=", 1) + [""])[:2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _strings(node: Any):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _command(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def is_one_off(service: dict) -> bool:
    return str(service.get("restart", "")).strip() == "no"


def migrayt_services(services: dict) -> dict[str, dict]:
    return {n: s for n, s in services.items() if _command(s)[:1] and _command(s)[0] in MIGRAYT_COMMANDS}


def compose_problems(doc: dict, ignored_files: set[str] = frozenset()) -> list[str]:
    """`ignored_files`: what the folder's .gitignore keeps out of git; every env file must be among them."""
    problems: list[str] = []
    services: dict[str, dict] = doc.get("services") or {}
    if not services:
        return ["no services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        if not is_one_off(service) and (not check or check.get("disable") or not check.get("test")):
            problems.append(f'{name}: no healthcheck (and not a one-off job with restart: "no")')
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key) and value.strip().lower() not in FLAG_VALUES:
                problems.append(f"{name}: secret {key} has its value inline")
        for text in _strings(service):
            if CREDENTIALS_IN_URL.search(text):
                problems.append(f"{name}: a URL with credentials inline")
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            path = env_file if isinstance(env_file, str) else env_file.get("path", "")
            if path.removeprefix("./") not in ignored_files:
                problems.append(f"{name}: env file {path} is not git-ignored")
    ours = migrayt_services(services)
    roles = {name: _command(s) for name, s in ours.items()}
    api = [n for n, c in roles.items() if c[0] == "api"]
    workers = [n for n, c in roles.items() if c[0] == "worker"]
    migrations = [n for n, c in roles.items() if c[:2] == ["db", "upgrade"]]
    if not api or not workers:
        problems.append("no Migrayt API or worker service")
    if len({ours[n].get("image") for n in api + workers + migrations}) > 1:
        problems.append("the API, workers and migration job do not use one image")
    if len(migrations) != 1 or not is_one_off(services[migrations[0]]):
        problems.append('there must be one one-off schema migration job (db upgrade, restart: "no")')
    else:
        for name in api + workers:
            depends = services[name].get("depends_on") or {}
            condition = depends.get(migrations[0], {}).get("condition") if isinstance(depends, dict) else None
            if condition != "service_completed_successfully":
                problems.append(f"{name}: does not wait for {migrations[0]} to complete successfully")
    return problems
