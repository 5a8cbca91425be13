"""Reading an e-mail (a dropped ``.eml`` file or pasted text) to prefill a create form.

``parse_message(data)`` returns a ``MailMessage`` (sender name and address, subject, body
text); ``prefill(kind, message)`` maps it to CRM field names of a lead, opportunity or case.
Parsing uses the standard library's ``email`` package (``policy=default``: RFC 2047 headers
decoded, charsets applied). Odd e-mails — no sender, HTML only, raw 8-bit (non-UTF-8)
headers, attachments, broken MIME, unknown charsets — give whatever can be read; these
functions never raise for bad input.
"""

from __future__ import annotations

import email
import email.header
import email.parser
import email.policy
import email.utils
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

# Longest body text kept (a pasted newsletter must not become a 5 MB CRM note).
MAX_BODY_CHARS = 20_000

# Caps of the reading itself (see ``_skim``): the message is read line by line and only its
# headers and text parts are kept, each text part up to MAX_TEXT_PART_BYTES, all headers
# together up to MAX_HEADER_BYTES, and at most MAX_PARTS MIME parts are looked at.
# Attachments' (and other non-text parts') bodies are passed over, never kept or decoded.
MAX_TEXT_PART_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 256 * 1024
MAX_PARTS = 100
_MAX_LINE = 64 * 1024      # a longer line is read past in pieces (and kept cut, if kept)

# Header lines a pasted text must start with to be read as a whole message rather than a body.
_HEADER_LINE = re.compile(
    r"^(from|to|cc|subject|date|sent|reply-to|message-id|return-path|received|mime-version|"
    r"content-type)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class MailMessage:
    """What a form can use from one e-mail; empty strings where the e-mail has nothing."""

    sender_name: str = ""
    sender_address: str = ""
    subject: str = ""
    body: str = ""
    date: str = ""

    @property
    def sender(self) -> str:
        """``Name <address>``, or whichever of the two exists."""
        if self.sender_name and self.sender_address:
            return f"{self.sender_name} <{self.sender_address}>"
        return self.sender_name or self.sender_address


class _TextFromHtml(HTMLParser):
    """Visible text of an HTML body: scripts/styles dropped, blocks on their own lines."""

    _BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
                         "blockquote", "pre", "table", "ul", "ol", "hr", "section", "article",
                         "header", "footer", "address"})
    _HIDDEN = frozenset({"script", "style", "head", "title", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self._parts.append("\n")
        if tag == "li":
            self._parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS and tag != "li":
            self._parts.append("\n")
        elif tag in ("td", "th"):
            self._parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._parts.append(data)

    def text(self) -> str:
        joined = "".join(self._parts)
        lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in joined.split("\n")]
        return _squeeze_blank_lines("\n".join(lines))


def html_to_text(html: str) -> str:
    """The readable text of an HTML fragment or document (never raises)."""
    parser = _TextFromHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this guards against the truly unexpected
        log.debug("HTML body could not be fully parsed", exc_info=True)
    return parser.text()


def _squeeze_blank_lines(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _fix_8bit(value: str, charset: str | None = None) -> str:
    """Undo the surrogate escapes the parser leaves for raw 8-bit header bytes.

    Headers that are not RFC 2047 encoded but raw Latin-1/Windows-1252 (old mailers) arrive
    as surrogates; decode them as UTF-8 when that works, else the message's charset, else
    Windows-1252 (a superset of Latin-1 for printable text).
    """
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    for candidate in ("utf-8", charset, "cp1252"):
        if not candidate:
            continue
        try:
            return raw.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("latin-1")


def _raw_header(msg: Message, name: str) -> str | None:
    """The header's source text, before the policy's parsing (None when missing)."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _header(msg: Message, name: str, charset: str | None) -> str:
    """A header's decoded text ('' when missing or unreadable)."""
    raw = _raw_header(msg, name)
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # Raw 8-bit bytes: the policy would turn them into U+FFFD, so decode them ourselves.
        text = _fix_8bit(raw, charset)
    else:
        try:
            text = str(msg.get(name, ""))
        except Exception:  # a header the policy cannot parse at all
            log.debug("Header %s unreadable", name, exc_info=True)
            text = raw
    if "=?" in text:
        # Encoded words the policy left alone (malformed spacing): decode leniently.
        try:
            text = str(email.header.make_header(email.header.decode_header(text)))
        except Exception:
            log.debug("Encoded words in %s left as they are", name, exc_info=True)
    return " ".join(text.split())


def _sender(msg: Message, charset: str | None) -> tuple[str, str]:
    """(display name, address) of From (else Sender, else Reply-To)."""
    for name in ("from", "sender", "reply-to"):
        text = _header(msg, name, charset)
        if not text:
            continue
        display, address = email.utils.parseaddr(text)
        if not address and not display:
            continue
        if "@" not in address:
            # "From: Ann Smith" with no address: parseaddr puts the words in the address.
            display, address = (display or address), ""
        return display.strip().strip('"').strip(), address.strip()
    return "", ""


def _part_text(part: Message) -> str:
    """A text part's content as str, whatever its charset claims."""
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            if isinstance(content, str):
                return content
    except Exception:  # unknown charset, bad transfer encoding, …
        log.debug("get_content failed; decoding by hand", exc_info=True)
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # the e-mail package raises anything on malformed mail
        payload = None
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        for candidate in (charset, "utf-8", "cp1252"):
            try:
                return payload.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                continue
        return payload.decode("latin-1")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _walk_text_parts(msg: Message) -> tuple[list[Message], list[Message]]:
    """(plain parts, html parts) that are not attachments, in message order."""
    plain: list[Message] = []
    html: list[Message] = []
    try:
        parts = list(msg.walk())
    except Exception:  # the e-mail package raises anything on malformed mail
        parts = [msg]
    for part in parts:
        try:
            if part.is_multipart():
                continue
            disposition = (part.get_content_disposition() or "").lower()
            if disposition == "attachment":
                continue
            content_type = part.get_content_type()
        except Exception:  # a malformed part is skipped, the rest read
            continue
        if content_type == "text/plain":
            plain.append(part)
        elif content_type == "text/html":
            html.append(part)
    return plain, html


def _body(msg: Message) -> str:
    """Body text: the plain part preferred, else the HTML one converted; '' when none."""
    chosen: Message | None = None
    if isinstance(msg, EmailMessage):
        try:
            chosen = msg.get_body(preferencelist=("plain", "html"))
        except Exception:  # the e-mail package raises anything on malformed mail
            chosen = None
    if chosen is None:
        plain, html = _walk_text_parts(msg)
        candidates = plain or html
        chosen = candidates[0] if candidates else None
    if chosen is None:
        if not msg.is_multipart() and msg.get_content_maintype() == "text":
            chosen = msg
        else:
            return ""
    text = _part_text(chosen)
    if chosen.get_content_type() == "text/html":
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _squeeze_blank_lines("\n".join(line.rstrip() for line in text.split("\n")))
    return text[:MAX_BODY_CHARS]


def _read_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The stream's lines (ending kept), none longer than ``_MAX_LINE``: the rest of a
    longer line is read past without being kept."""
    while line := stream.readline(_MAX_LINE):
        if len(line) == _MAX_LINE and not line.endswith(b"\n"):
            while (rest := stream.readline(_MAX_LINE)) and not rest.endswith(b"\n"):
                pass
            line += b"\r\n"
        yield line


def _skim(stream: IO[bytes]) -> bytes:
    """The message in ``stream`` reduced to what a form can use, for the ``email`` parser:
    the headers (of the message and its parts) and the bodies of the text parts that are
    not attachments, within the caps above. Other bodies are left empty; past MAX_PARTS
    parts reading stops and the open multiparts are closed. Never raises for bad input."""
    out = bytearray()
    header_budget = MAX_HEADER_BYTES
    boundaries: list[bytes] = []     # open multiparts, innermost last
    in_headers, keep, kept, parts = True, False, 0, 0
    headers = bytearray()
    for line in _read_lines(stream):
        if in_headers:
            if line.strip():
                if len(headers) + len(line) <= header_budget:
                    headers += line
                continue
            header_budget -= len(headers)
            out += headers + line
            part = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
                bytes(headers))
            headers = bytearray()
            in_headers, kept = False, 0
            boundary = part.get_boundary() if part.get_content_maintype() == "multipart" \
                else None
            if boundary:
                boundaries.append(b"--" + boundary.encode("ascii", "replace"))
                keep = False          # the preamble
            else:
                keep = (part.get_content_type() in ("text/plain", "text/html")
                        and (part.get("content-disposition") or "").split(";")[0].strip()
                        .lower() != "attachment")
            continue
        marker = line.rstrip()
        if marker.startswith(b"--") and boundaries:
            # A delimiter of the innermost multipart, or of an outer one (which ends the
            # inner ones too).
            hit = next((i for i in range(len(boundaries) - 1, -1, -1)
                        if marker in (boundaries[i], boundaries[i] + b"--")), None)
            if hit is not None:
                closing = marker == boundaries[hit] + b"--"
                del boundaries[hit + 1:]
                out += line
                if closing:
                    boundaries.pop()
                    keep = False      # the epilogue
                    continue
                parts += 1
                if parts > MAX_PARTS:
                    del out[len(out) - len(line):]
                    break
                in_headers = True
                continue
        if keep and kept + len(line) <= MAX_TEXT_PART_BYTES:
            out += line
            kept += len(line)
    for delimiter in reversed(boundaries):
        out += b"\r\n" + delimiter + b"--\r\n"
    if in_headers:
        out += headers
    return bytes(out)


def _looks_like_message(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    return bool(_HEADER_LINE.match(first))


def parse_message(data: bytes | str) -> MailMessage:
    """Read an e-mail from raw bytes (an ``.eml`` file) or text (pasted).

    Pasted text that does not start with a header line (``From:``, ``Subject:`` …) is taken
    as a body only. Never raises: an unreadable e-mail gives an empty (or partial) message.
    """
    if isinstance(data, str):
        if not _looks_like_message(data):
            return MailMessage(body=_squeeze_blank_lines(
                data[:MAX_TEXT_PART_BYTES].replace("\r\n", "\n"))[:MAX_BODY_CHARS])
        data = data.lstrip().encode("utf-8", "surrogateescape")
    return _parse_stream(io.BytesIO(data))


def _parse_stream(stream: IO[bytes]) -> MailMessage:
    try:
        raw = _skim(stream)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:
        log.warning("E-mail could not be parsed", exc_info=True)
        return MailMessage()
    charset: str | None = None
    try:
        charset = msg.get_content_charset()
    except Exception:  # the e-mail package raises anything on malformed mail
        charset = None
    name, address = _safe(lambda: _sender(msg, charset), ("", ""))
    return MailMessage(
        sender_name=name,
        sender_address=address,
        subject=_safe(lambda: _header(msg, "subject", charset), ""),
        body=_safe(lambda: _body(msg), ""),
        date=_safe(lambda: _header(msg, "date", charset), ""),
    )


def _safe(read: Any, fallback: Any) -> Any:
    """``read()``, or ``fallback`` when a broken e-mail makes it fail (logged, not raised)."""
    try:
        return read()
    except Exception:
        log.debug("Part of an e-mail could not be read", exc_info=True)
        return fallback


def parse_file(path: str | Path) -> MailMessage:
    """Read an ``.eml`` file, line by line and within the caps above (it may be large: it
    is only skimmed). Raises OSError only when the file cannot be read at all. Slow for a
    large file: call it off the GUI thread."""
    with Path(path).open("rb") as stream:
        return _parse_stream(stream)


_NAME_PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "du",
                             "dos", "das", "le", "la", "ter", "ten", "zu", "af", "bin", "al"})


def split_name(display_name: str) -> tuple[str, str]:
    """(first name, last name) of a display name: ``"Smith, Ann"`` and ``"Ann Smith"`` both
    give ("Ann", "Smith"); a single word is a last name (Oro's forms put it there); a
    particle (``van``, ``de`` …) starts the last name."""
    name = " ".join(display_name.replace('"', " ").split())
    if not name or "@" in name:
        return "", ""
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    words = name.split(" ")
    if len(words) == 1:
        return "", words[0]
    # "Ludwig van Beethoven": a lower-case particle starts the last name.
    for index in range(1, len(words) - 1):
        if words[index] in _NAME_PARTICLES:
            return " ".join(words[:index]), " ".join(words[index:])
    return " ".join(words[:-1]), words[-1]


def _without_reply_prefix(subject: str) -> str:
    """``Re: Fwd: Offer`` -> ``Offer``: the record is about the topic, not the reply."""
    return re.sub(r"^(\s*(re|fw|fwd|aw|wg|tr|sv|antw)\s*(\[\d+\])?\s*:\s*)+", "", subject,
                  flags=re.IGNORECASE).strip()


def prefill(kind: str, message: MailMessage) -> dict[str, Any]:
    """Form values (CRM field names) a new ``kind`` record takes from ``message``.

    lead: ``name`` (subject, else sender), ``firstName``/``lastName`` (sender name),
    ``emails`` ([sender address]), ``notes`` (body); opportunity: ``name`` (subject),
    ``customerNeed`` (body), ``notes`` (who sent it, when); case: ``subject``,
    ``description`` (who sent it, when, then the body), ``source`` ``email`` (one of Oro's
    case sources). Only non-empty
    values are returned; unknown kinds give {}.
    """
    subject = _without_reply_prefix(message.subject)
    values: dict[str, Any] = {}
    if kind == "lead":
        first, last = split_name(message.sender_name)
        values = {
            "name": subject or message.sender_name or message.sender_address,
            "firstName": first,
            "lastName": last,
            "emails": [message.sender_address] if message.sender_address else [],
            "notes": message.body,
        }
    elif kind == "opportunity":
        origin = ""
        if message.sender:
            origin = f"From the e-mail of {message.sender}"
            if message.date:
                origin += f" ({message.date})"
            origin += "."
        values = {"name": subject, "customerNeed": message.body, "notes": origin}
    elif kind == "case":
        # The sender is kept with the case (who reported it, when), as the opportunity keeps
        # it in its notes; the side panel also links the sender's contact when the CRM has
        # one (relatedContact, looked up in the CRM: not something an e-mail alone gives).
        origin = ""
        if message.sender:
            origin = f"From {message.sender}" + (f", {message.date}" if message.date else "")
            origin += "."
        description = "\n\n".join(part for part in (origin, message.body) if part)
        values = {"subject": subject or (f"E-mail from {message.sender}" if message.sender
                                         else ""),
                  "description": description, "source": "email"}
    return {key: value for key, value in values.items() if value}
