"""Contacts as vCard (vobject): reading entries one by one, writing vCard 3.0.

Mapping (local field ↔ vCard):
    first/middle/last name, suffix ↔ N (FN written for display; read, split, only when
        N is missing)
    emails ↔ every EMAIL, in file order
    primary_phone ↔ the TEL marked PREF, else the first TEL that is not a fax
    business_fax ↔ TEL;TYPE=WORK,FAX (any fax TEL when reading)
    job_title ↔ TITLE · birthday ↔ BDAY · notes ↔ NOTE
    business_address ↔ ADR;TYPE=WORK · home_address ↔ ADR;TYPE=HOME · other_address ↔ ADR
        with neither type (the first ADR of each kind is used)
    gender ↔ X-GENDER (male/female); GENDER (vCard 4: M/F) is read too
    crm_id ↔ X-CRM-ID · the local id is written as UID
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

import vobject

from ..errors import InterchangeError
from .fields import display_name
from .interchange_types import EntryLines, Record, content_lines
from .model import ImportProblem, Item


def _blocks(lines: Iterable[str]) -> Iterator[tuple[int, EntryLines | None]]:
    """Split the lines into BEGIN:VCARD…END:VCARD blocks, lazily and under the import's
    caps, so one broken or huge card cannot take the others down with it. ``None`` marks an
    unterminated block."""
    count = 0
    current: EntryLines | None = None
    depth = 0
    for line in lines:
        token = line.strip().upper()
        if token == "BEGIN:VCARD":
            if current is None:
                current, depth = EntryLines(line), 1
                continue
            depth += 1
        if current is not None:
            current.add(line)
            if token == "END:VCARD":
                depth -= 1
                if depth == 0:
                    count += 1
                    yield count, current
                    current = None
    if current is not None:
        yield count + 1, None


def _types(line: Any) -> set[str]:
    """TYPE parameters of a content line, upper-cased, from 3.0 and 2.1 style alike."""
    values: set[str] = set()
    for raw in list(line.params.get("TYPE", [])) + list(getattr(line, "singletonparams", [])):
        values.update(part.strip().strip('"').upper() for part in str(raw).split(","))
    if "PREF" in line.params:
        values.add("PREF")
    return values


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value if v)
    return str(value or "")


def _birthday(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) >= 8 and text[:8].isdigit():  # 19800423 or 19800423T000000
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return text[:10] if len(text) > 10 and text[10] in "T " else text


def _card_fields(card: Any) -> tuple[dict[str, Any], str | None]:
    contents = card.contents
    fields: dict[str, Any] = {}

    def first(name: str) -> Any:
        lines = contents.get(name)
        return lines[0] if lines else None

    n = first("n")
    if n is not None and isinstance(n.value, vobject.vcard.Name):
        fields["first_name"] = _text(n.value.given)
        fields["middle_name"] = _text(n.value.additional)
        fields["last_name"] = _text(n.value.family)
        fields["suffix"] = _text(n.value.suffix)
    elif n is not None:
        parts = str(n.value).split(";") + [""] * 5
        fields.update(last_name=parts[0], first_name=parts[1], middle_name=parts[2],
                      suffix=parts[4])
    emails = [_text(line.value).strip() for line in contents.get("email", [])]
    fn = first("fn")
    if n is None and fn is not None and _text(fn.value).strip() not in emails:
        # No N (allowed in vCard 4): split the display name. Our own exports always carry N,
        # whose FN may be just the e-mail, which is no name.
        words = _text(fn.value).split()
        if len(words) == 1:
            fields = {"first_name": words[0]}
        elif words:
            fields = {"first_name": " ".join(words[:-1]), "last_name": words[-1]}
    if any(emails):
        fields["emails"] = [e for e in emails if e]
    phones = [(line, _types(line)) for line in contents.get("tel", [])]
    voice = [(line, types) for line, types in phones if "FAX" not in types]
    preferred = [line for line, types in voice if "PREF" in types]
    if preferred or voice:
        fields["primary_phone"] = _text((preferred or [voice[0][0]])[0].value)
    faxes = [line for line, types in phones if "FAX" in types]
    if faxes:
        work = [line for line in faxes if "WORK" in _types(line)]
        fields["business_fax"] = _text((work or faxes)[0].value)
    for name, field in (("title", "job_title"), ("note", "notes")):
        line = first(name)
        if line is not None:
            fields[field] = _text(line.value)
    bday = first("bday")
    if bday is not None and _text(bday.value).strip():
        fields["birthday"] = _birthday(bday.value)
    gender = first("x-gender") or first("gender")
    if gender is not None:
        code = _text(gender.value).split(";")[0].strip().lower()
        if code in ("m", "male"):
            fields["gender"] = "male"
        elif code in ("f", "female"):
            fields["gender"] = "female"
        # Other vCard 4 genders (O, N, U) have no local equivalent: left out.
    for line in contents.get("adr", []):
        types = _types(line)
        field = ("business_address" if "WORK" in types else
                 "home_address" if "HOME" in types else "other_address")
        if field in fields:
            continue
        value = line.value
        if isinstance(value, vobject.vcard.Address):
            street = "\n".join(p for p in (_text(value.street), _text(value.extended)) if p)
            address = {"street": street, "city": _text(value.city),
                       "postal_code": _text(value.code), "region": _text(value.region),
                       "country": _text(value.country)}
        else:
            parts = str(value).split(";") + [""] * 7
            address = {"street": parts[2], "city": parts[3], "region": parts[4],
                       "postal_code": parts[5], "country": parts[6]}
        fields[field] = address
    crm = first("x-crm-id")
    crm_id = _text(crm.value).strip() or None if crm is not None else None
    return fields, crm_id


def read_vcards(lines: str | Iterable[str]) -> Iterator[Record | ImportProblem]:
    """Parse the vCards in ``lines`` (or a text) one by one: a Record per readable card, an
    ImportProblem per broken or too large one. Raises InterchangeError (after the last) when
    there was no vCard."""
    found = False
    for index, entry in _blocks(content_lines(lines) if isinstance(lines, str) else lines):
        found = True
        if entry is None:
            yield ImportProblem(index, "", "the vCard has no END:VCARD line.")
            continue
        if entry.problem is not None:
            yield ImportProblem(index, "", entry.problem)
            continue
        name = ""
        try:
            card = vobject.readOne("\r\n".join(entry.lines) + "\r\n", ignoreUnreadable=False)
            if "fn" in card.contents:
                name = _text(card.fn.value)
            fields, crm_id = _card_fields(card)
        except Exception as exc:  # vobject raises many kinds; reported
            yield ImportProblem(index, name, f"unreadable vCard ({exc}).")
            continue
        yield Record(index, name, "contacts", fields, crm_id)
    if not found:
        raise InterchangeError("The file contains no vCard (no BEGIN:VCARD line).",
                               title="Not a vCard file")


def write_vcards(items: Iterable[Item]) -> Iterable[str]:
    """Serialise contacts as vCard 3.0 text, one card per item."""
    for item in items:
        f = item.fields
        card = vobject.vCard()
        card.add("uid").value = item.id
        card.add("n").value = vobject.vcard.Name(
            family=f.get("last_name", ""), given=f.get("first_name", ""),
            additional=f.get("middle_name", ""), suffix=f.get("suffix", ""))
        card.add("fn").value = display_name("contacts", f)
        for address in f.get("emails", []):
            line = card.add("email")
            line.value = address
            line.params["TYPE"] = ["INTERNET"]
        if "primary_phone" in f:
            line = card.add("tel")
            line.value = f["primary_phone"]
            line.params["TYPE"] = ["VOICE", "PREF"]
        if "business_fax" in f:
            line = card.add("tel")
            line.value = f["business_fax"]
            line.params["TYPE"] = ["WORK", "FAX"]
        if "job_title" in f:
            card.add("title").value = f["job_title"]
        if "birthday" in f:
            card.add("bday").value = f["birthday"]
        if "gender" in f:
            card.add("x-gender").value = f["gender"]
        for field, kind in (("business_address", "WORK"), ("home_address", "HOME"),
                            ("other_address", None)):
            address = f.get(field)
            if not address:
                continue
            line = card.add("adr")
            line.value = vobject.vcard.Address(
                street=address.get("street", ""), city=address.get("city", ""),
                region=address.get("region", ""), code=address.get("postal_code", ""),
                country=address.get("country", ""))
            if kind:
                line.params["TYPE"] = [kind]
        if "notes" in f:
            card.add("note").value = f["notes"]
        if item.crm_id:
            card.add("x-crm-id").value = item.crm_id
        yield card.serialize()
