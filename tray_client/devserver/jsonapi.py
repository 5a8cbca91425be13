"""JSON:API error type, JSON encoding and the wire formats of time shared by the whole server."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec

MEDIA_TYPE = "application/vnd.api+json"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode_document(document: Any, *, floats: bool = True) -> bytes:
    """An answer body: the bytes of ``json.dumps(document, ensure_ascii=False,
    separators=(",", ":"))``.

    msgspec writes exactly those bytes, several times faster, for everything but floats (it
    writes ``1e16`` where ``json`` writes ``1e+16``, ``null`` for infinities): a document that
    may hold a float (``floats``, the default: a percent attribute, configuration values)
    goes through ``json``; so does one msgspec refuses (a lone surrogate), so that it fails
    the same way, also when it holds a page's Structs (``records._serialize_rows``), which
    ``json`` writes as the dicts they stand for. tests/devserver/test_fast_paths.py checks
    the bytes.
    """
    if not floats:
        try:
            return _encoder.encode(document)
        except (TypeError, ValueError):
            pass
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"),
                      default=msgspec.to_builtins).encode()


def decode_stored(text: str | bytes) -> Any:
    """Stored JSON (attributes, relationships) back into Python: msgspec, about twice as fast
    as ``json.loads``, and ``json.loads`` for what msgspec refuses (``NaN``, ``1e400``, lone
    surrogates), so the result never differs."""
    try:
        return _decoder.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


class ApiError(Exception):
    """A JSON:API error answer: ``status`` plus one error object.

    ``pointer`` names a document member (``/data/attributes/name``), ``parameter`` a query
    parameter (``page[size]``); at most one of them is set. Raised anywhere below the HTTP
    layer and turned into ``{"errors": [...]}`` by the app; the admin handle lets it escape
    so that tests see validation failures directly.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter
        self.headers = headers or {}

    def as_error_object(self) -> dict[str, Any]:
        """The JSON:API error object (one entry of ``errors``)."""
        error: dict[str, Any] = {"status": str(self.status), "title": self.title}
        if self.detail is not None:  # Oro leaves it out when the exception has no message
            error["detail"] = self.detail
        if self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        elif self.parameter is not None:
            error["source"] = {"parameter": self.parameter}
        return error

    def as_document(self) -> dict[str, Any]:
        """The whole error document."""
        return {"errors": [self.as_error_object()]}


def bad_request(
    title: str, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> ApiError:
    """A 400 error (validation or malformed input)."""
    return ApiError(400, title, detail, pointer=pointer, parameter=parameter)


TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_timestamp(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, truncated to the second (Oro's resolution)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def utc_now() -> str:
    """The current time as a wire timestamp."""
    return format_timestamp(dt.datetime.now(dt.UTC))


def parse_instant(value: str) -> dt.datetime:
    """Parse ISO-8601 (``Z``, an offset, or none meaning UTC; a bare date is midnight UTC).

    Raises ValueError when the text is not such a moment.
    """
    if not isinstance(value, str) or not (10 <= len(value) <= 40):
        raise ValueError("not an ISO-8601 date-time")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def normalize_timestamp(value: str) -> str:
    """Any accepted ISO-8601 text as a wire timestamp (sub-seconds dropped). ValueError if bad."""
    return format_timestamp(parse_instant(value))


def parse_date(value: Any) -> str:
    """Check a ``YYYY-MM-DD`` date and return it. ValueError if bad."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("not a YYYY-MM-DD date")
    return dt.date.fromisoformat(value).isoformat()


def is_record_id(text: object) -> bool:
    """True for an id SQLite can hold: 1 to 18 ASCII digits (``str.isdigit`` takes "²")."""
    return isinstance(text, str) and 0 < len(text) <= 18 and text.isascii() and text.isdigit()
