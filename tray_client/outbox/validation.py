"""Checking what the user typed against a form, before anything is queued.

``validate(form, values)`` returns the cleaned values and a list of ``FieldProblem`` (field
name + message); an empty list means the entry can be queued. Cleaned values are what the
outbox stores and what ``payload.to_payload`` turns into a JSON:API document:

- text is trimmed; an empty value is dropped (the CRM's default then applies);
- ``email``/``phone`` fields hold a list of strings (a string is split at commas/semicolons);
- ``string`` is one line of at most 255 characters, ``text`` at most 65,535 (neither holds
  control characters: ``text_problem``, also applied to local items); ``date`` is ``YYYY-MM-DD``;
  ``integer`` an int; ``percent`` a number 0–100 (sent as a fraction); ``money`` a decimal
  string with at most two decimals (``"1500.5"`` -> ``"1500.50"``);
- ``enum`` holds a choice id; a required enum left empty takes the enum's default choice;
- ``customer`` holds a record reference ``{"type": "accounts" | "b2bcustomers", "id": "3",
  "label": "Acme"}``; typed by hand, ``3`` is account 3, ``b2bcustomers:9`` (or the value
  given under the name ``customer``, as Oro calls the relationship) business customer 9.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .forms import CONTACT_LINKS, CUSTOMER_TYPES, FormDefinition, FormField

# Deliberately permissive (the CRM has the final word): one @, no spaces, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_PHONE_CHARS = re.compile(r"^[0-9+\-()./ x#*]+$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LIST_SPLIT = re.compile(r"[,;\n]")
# C0 controls but tab and line breaks, and DEL: no CRM field holds them (Oro's PostgreSQL
# refuses NUL outright), and they make a value unreadable in every list that shows it.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_STRING = 255  # Oro's string columns
MAX_TEXT = 65535  # Oro's text columns (descriptions, notes)


def text_problem(text: str, *, multiline: bool = False, limit: int = MAX_STRING) -> str | None:
    """Why the CRM would refuse ``text`` in a string (one line, ``limit`` characters) or a
    text (``multiline``) field, or None. Shared by the create forms and the local items."""
    bad = _CONTROL.search(text)
    if bad:
        return (f"Contains a control character (U+{ord(bad.group()):04X}) at position "
                f"{bad.start() + 1}.")
    if not multiline and "\n" in text:
        return "Must be a single line."
    if len(text) > limit:
        return f"At most {limit} characters (this is {len(text)})."
    return None


def email_problem(address: str) -> str | None:
    """Why ``address`` is not an e-mail address the CRM takes, or None."""
    if not _EMAIL.match(address) or len(address) > MAX_STRING:
        return f"{address[:80]!r} is not an e-mail address."
    return None


@dataclass(frozen=True)
class FieldProblem:
    """Why one field's value cannot be used; ``field`` is the CRM field name."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items: list[str] = []
        for item in value:
            if isinstance(item, Mapping):  # JSON:API shape [{"email": …}] accepted as well
                item = next(iter(item.values()), "")
            items.extend(_as_list(item))
        return items
    return [part.strip() for part in _LIST_SPLIT.split(str(value)) if part.strip()]


# The name Oro gives a business customer reference; accepted for the ``customer`` field.
CUSTOMER_ALIAS = "customer"


def _clean_customer(value: Any, default_type: str = "accounts") -> tuple[Any, str | None]:
    """A record reference from a picker's dict, ``"3"`` or ``"b2bcustomers:9"``."""
    if value is None or value == "":
        return None, None
    if isinstance(value, Mapping):
        ref_type, ref_id = str(value.get("type") or ""), _as_text(value.get("id"))
        label = _as_text(value.get("label"))
    else:
        text = _as_text(value)
        ref_type, sep, ref_id = text.partition(":")
        if not sep:
            ref_type, ref_id = default_type, text
        label = ""
    if not ref_id:
        return None, None
    if ref_type not in CUSTOMER_TYPES:
        return None, (f"{ref_type!r} is not an account or a customer "
                      f"(use one of: {', '.join(CUSTOMER_TYPES)}).")
    if not ref_id.isdigit():
        return None, (f"{ref_id!r} is not a CRM record id: pick the account from the search "
                      "results, or give its id.")
    return {"type": ref_type, "id": ref_id, "label": label or f"#{ref_id}"}, None


def _clean(form_field: FormField, value: Any) -> tuple[Any, str | None]:
    """(cleaned value or None when empty, problem message or None)."""
    kind = form_field.type
    if kind == "customer":
        return _clean_customer(value)
    if kind in ("email", "phone"):
        items = _as_list(value)
        if not items:
            return None, None
        for item in items:
            if kind == "email" and (problem := email_problem(item)):
                return None, problem
            if kind == "phone" and (not _PHONE_CHARS.match(item)
                                    or sum(ch.isdigit() for ch in item) < 3):
                return None, f"{item!r} is not a phone number."
        unique: list[str] = []
        for item in items:  # the CRM refuses a list naming one address twice
            if item.casefold() not in {u.casefold() for u in unique}:
                unique.append(item)
        return unique, None
    text = _as_text(value)
    if not text:
        return None, None
    if kind == "date":
        if not _DATE.match(text):
            return None, f"{text!r} is not a date (YYYY-MM-DD)."
        try:
            _dt.date.fromisoformat(text)
        except ValueError:
            return None, f"{text!r} is not a valid date."
        return text, None
    if kind == "integer":
        try:
            return int(text), None
        except ValueError:
            return None, f"{text!r} is not a whole number."
    if kind == "percent":
        try:
            number = Decimal(text.rstrip("%").strip())
        except InvalidOperation:
            return None, f"{text!r} is not a number."
        if not number.is_finite() or not 0 <= number <= 100:
            return None, "Must be between 0 and 100."
        return (int(number) if number == number.to_integral_value() else float(number)), None
    if kind == "money":
        try:
            amount = Decimal(text.replace(" ", ""))
        except InvalidOperation:
            return None, f"{text!r} is not an amount."
        if not amount.is_finite() or amount < 0:
            return None, "Must be a positive amount."
        if amount != amount.quantize(Decimal("0.01")):
            return None, "At most two decimals."
        return f"{amount.quantize(Decimal('0.01'))}", None
    if kind == "enum":
        if form_field.choices and text not in {c.id for c in form_field.choices}:
            allowed = ", ".join(c.id for c in form_field.choices)
            return None, f"{text!r} is not one of: {allowed}."
        return text, None
    # string / text
    problem = text_problem(text, multiline=kind != "string",
                           limit=MAX_STRING if kind == "string" else MAX_TEXT)
    if problem:
        return None, problem
    return text, None


def clean_contact_link(value: Any) -> dict[str, str] | None:
    """A sender's contact link ``{"type": "contacts", "id", "label"}``, or None when the value
    is no usable link (it is then left out: a link never blocks the record)."""
    if not isinstance(value, Mapping) or value.get("type") != "contacts":
        return None
    ref_id = _as_text(value.get("id"))
    if not ref_id.isdigit():
        return None
    return {"type": "contacts", "id": ref_id, "label": _as_text(value.get("label")) or f"#{ref_id}"}


def validate(form: FormDefinition, values: Mapping[str, Any]
             ) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Clean ``values`` (CRM field name -> value) against ``form``.

    Returns ``(cleaned, problems)``; ``cleaned`` holds only non-empty values of the form's
    fields, in form order. Names that are not fields of the form are problems too (so a typo
    on the command line is reported, not silently dropped). The kind's contact link
    (``CONTACT_LINKS``, e.g. a case's ``relatedContact``) is kept after the fields when usable
    and dropped otherwise, never a problem. Never raises.
    """
    problems: list[FieldProblem] = []
    cleaned: dict[str, Any] = {}
    known = set(form.field_names)
    link_name = CONTACT_LINKS.get(form.kind)
    if link_name is not None:
        known.add(link_name)
    customer_field = next((f for f in form.fields if f.type == "customer"), None)
    if customer_field is not None:
        known.add(CUSTOMER_ALIAS)
    for name in values:
        if name not in known:
            problems.append(FieldProblem(
                str(name), f"Not a field of this form (fields: {', '.join(form.field_names)})."))
    for form_field in form.fields:
        raw = values.get(form_field.name)
        if form_field is customer_field and raw in (None, "") and CUSTOMER_ALIAS in values:
            value, problem = _clean_customer(values[CUSTOMER_ALIAS], "b2bcustomers")
            if problem:
                problems.append(FieldProblem(form_field.name, problem))
                continue
            raw = value
        value, problem = _clean(form_field, raw)
        if problem:
            problems.append(FieldProblem(form_field.name, problem))
            continue
        if value is None and form_field.required and form_field.type == "enum":
            default = form_field.default_choice
            if default is not None:
                value = default.id
        if value is None:
            if form_field.required:
                problems.append(FieldProblem(form_field.name, f"{form_field.label} is required."))
            continue
        cleaned[form_field.name] = value
    if link_name is not None and (link := clean_contact_link(values.get(link_name))):
        cleaned[link_name] = link
    return cleaned, problems
