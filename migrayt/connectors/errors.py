"""The base of every error a connector raises (its own module so outbound.py and http.py share it)."""

from __future__ import annotations


class HttpError(Exception):
    """Base of every error a connector raises; messages never carry credentials."""
