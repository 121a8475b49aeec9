"""Hooks the run engine hands to the converter (mentions, work-item keys, re-hosted images)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit


@dataclass(frozen=True)
class AdfImage:
    """An image the engine re-hosted in Jira.

    `url` is what Jira should fetch to render it. The converter emits
    `mediaSingle` > `media` with `type: "external"` and this URL: ADF's
    `file` media needs a Media Services id that the public REST API does not
    return, while an external media node pointing at the attachment's content
    URL (`https://<site>/rest/api/3/attachment/content/<id>`) renders inline
    for anyone who can see the issue.
    """

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None


class _DropImage:
    __slots__ = ()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "DROP_IMAGE"


# Returned by `AdfContext.image` to say "this image lives on the source server and
# could not be re-hosted: show its alt text, never its URL".
DROP_IMAGE: Final = _DropImage()


@dataclass
class AdfContext:
    """Optional hooks; every one may be None.

    Exceptions raised by a hook propagate to the caller unchanged (a lost database
    connection must not silently turn into a lost mention); nothing else does.
    """

    # (ADO identity id, display name) -> Jira accountId, or None when unmapped.
    mention: Callable[[str, str], str | None] | None = None
    # ADO work item id -> Jira issue key once migrated, else None.
    work_item_key: Callable[[int], str | None] | None = None
    # (img src, alt) -> AdfImage when re-hosted, DROP_IMAGE to show alt text only, None
    # to fall back (a link to src unless src is on `drop_source_host`).
    image: Callable[[str, str], AdfImage | _DropImage | None] | None = None
    # Host of the source server (e.g. "dev.azure.com"); images from it (or its
    # subdomains, or relative srcs) never keep their URL in the output.
    drop_source_host: str | None = None
    # When set, a known `#123` becomes an inlineCard to `{jira_site_url}/browse/KEY`
    # (a smart link Jira renders with the summary); otherwise plain text KEY.
    jira_site_url: str | None = None

    def is_source_url(self, url: str) -> bool:
        """True when `url` points at the source server (or is relative to it)."""
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return True
        if parts.scheme.lower() == "data":
            return True
        host = (parts.hostname or "").lower()
        if not host:
            # Relative URLs resolve against the server the HTML came from.
            return True
        drop = (self.drop_source_host or "").strip().lower()
        if not drop:
            return False
        return host == drop or host.endswith("." + drop)
