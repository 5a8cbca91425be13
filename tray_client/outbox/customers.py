"""Finding the account (or business customer) an opportunity is for.

Oro refuses an opportunity without an account or a customer (SalesBundle
``Resources/doc/api/opportunity.md``). The side panel's picker searches both as the user
types, and an opportunity made from an e-mail starts with the account of the contact who sent
it. Both go through Oro's own API: ``filter[searchText]`` on ``accounts`` and
``b2bcustomers`` (SearchBundle ``AddSearchTextFilter``: every entity in the search index has
it) and ``filter[emails]`` on ``contacts`` (ContactBundle ``api.yml``), whose ``accounts``
relationship names the contact's accounts.

``CustomerChoice.as_value()`` is the value a ``customer`` form field holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import NotFoundError

log = logging.getLogger(__name__)

TYPE_LABELS: dict[str, str] = {"accounts": "account", "b2bcustomers": "business customer"}


@dataclass(frozen=True)
class CustomerChoice:
    """An account or a business customer: ``type`` is ``accounts`` or ``b2bcustomers``."""

    type: str
    id: str
    label: str

    @property
    def text(self) -> str:
        """How a list shows it: ``Acme Retail (business customer)``; accounts plainly."""
        if self.type == "accounts":
            return self.label
        return f"{self.label} ({TYPE_LABELS.get(self.type, self.type)})"

    def as_value(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "label": self.label}

    @classmethod
    def from_value(cls, value: Any) -> CustomerChoice | None:
        """A form value (``as_value()`` dict) back as a choice; None when it is not one."""
        if not isinstance(value, dict) or not value.get("type") or not value.get("id"):
            return None
        return cls(
            str(value["type"]), str(value["id"]), str(value.get("label") or f"#{value['id']}")
        )


class CustomerSource(Protocol):
    """What these functions need of a CrmClient."""

    def search_records(self, type: str, text: str, *, limit: int = 20) -> list[Any]: ...
    def contacts_with_email(self, addresses: Any, *, fields: Any = ()) -> list[Any]: ...
    def get(self, type: str, id: str, *, include: Any = ()) -> Any: ...


def _choice(resource: Any) -> CustomerChoice:
    name = resource.attributes.get("name")
    return CustomerChoice(resource.type, resource.id, str(name) if name else f"#{resource.id}")


def search_customers(crm: CustomerSource, text: str, *, limit: int = 20) -> list[CustomerChoice]:
    """Accounts, then business customers, matching ``text`` (at most ``limit`` of each).

    Empty text finds nothing. A CRM without business customers (the feature switched off:
    404) just gives accounts. Raises CrmError (OfflineError …) for the accounts search.
    """
    if not text.strip():
        return []
    found = [_choice(r) for r in crm.search_records("accounts", text, limit=limit)]
    try:
        found += [_choice(r) for r in crm.search_records("b2bcustomers", text, limit=limit)]
    except NotFoundError:
        log.debug("No business customers in this CRM; searching accounts only")
    return found


def resolve_by_name(crm: CustomerSource, type: str, name: str) -> CustomerChoice:
    """The one record of ``type`` (``accounts`` / ``b2bcustomers``) named ``name`` (compared
    without case), found with the search filter. Raises LookupError with a message for the
    user when there is none or several; CrmError when the CRM cannot be asked."""
    wanted = name.strip()
    found = [_choice(r) for r in crm.search_records(type, wanted, limit=50)]
    exact = [c for c in found if c.label.casefold() == wanted.casefold()]
    what = TYPE_LABELS.get(type, type)
    if len(exact) == 1:
        return exact[0]
    if exact:
        ids = ", ".join(c.id for c in exact)
        raise LookupError(f"Several {what}s are named {wanted!r} (ids {ids}): give the id.")
    hint = "; similar: " + ", ".join(f"{c.label} ({c.id})" for c in found[:5]) if found else ""
    raise LookupError(f"No {what} is named {wanted!r}{hint}.")


def _contacts_of_sender(crm: CustomerSource, address: str, fields: list[str]) -> list[Any]:
    """The contacts having this e-mail address, lowest id first (``filter[emails]``)."""
    if not address.strip():
        return []
    return list(crm.contacts_with_email([address], fields=fields))


def contact_of_sender(crm: CustomerSource, address: str) -> CustomerChoice | None:
    """The contact with this e-mail address (type ``contacts``, labelled with its name), or
    None. With several, the lowest id wins. Raises CrmError."""
    for contact in _contacts_of_sender(crm, address, ["firstName", "lastName"]):
        attrs = contact.attributes
        name = " ".join(str(attrs.get(key) or "").strip() for key in ("firstName", "lastName"))
        return CustomerChoice("contacts", contact.id, name.strip() or address.strip())
    return None


def account_of_sender(crm: CustomerSource, address: str) -> CustomerChoice | None:
    """The account of the contact with this e-mail address, or None (no such contact, or it
    works for no account). With several, the lowest contact id and then account id wins.
    Raises CrmError."""
    for contact in _contacts_of_sender(crm, address, ["accounts"]):
        refs = contact.relationships.get("accounts") or []
        ids = sorted((ref.id for ref in refs if getattr(ref, "type", "") == "accounts"),
                     key=lambda i: (len(i), i))
        if ids:
            return _choice(crm.get("accounts", ids[0]))
    return None
