"""Posting the web app's forms by hand, as a person's browser does: the page first, then its form with its token."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no form token"
    return found.group(1)


async def page_token(http: httpx.AsyncClient, path: str) -> str:
    """The CSRF token of the page at `path` (the client keeps the session cookie the page sets)."""
    r = await http.get(path)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return csrf_of(r.text)
