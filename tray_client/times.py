"""Instants as the client writes them: UTC to the second, ``YYYY-MM-DDTHH:MM:SSZ``.

One format for the sync tables, the history, the outbox and the CRM's clock, so the text
sorts in time order and compares as it reads (the reference server has its own copy: it
imports nothing of the client).
"""

from __future__ import annotations

import datetime as dt

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_text(when: dt.datetime | None = None) -> str:
    """``when`` (now when None) as ``YYYY-MM-DDTHH:MM:SSZ``; a naive ``when`` is UTC."""
    if when is None:
        when = dt.datetime.now(dt.UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime(UTC_FORMAT)
