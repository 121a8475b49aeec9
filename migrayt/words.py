"""Counts as people write them, shared by every door and message: "1 title", "3 titles", never "title(s)"."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`many` for a noun whose plural is not noun + "s" ("1 entry", "2 entries")."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {many or noun + 's'}"
