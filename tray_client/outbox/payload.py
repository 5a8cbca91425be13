"""From cleaned form values to the JSON:API pieces ``CrmClient.create`` takes.

Enum fields become to-one relationships to their enum resource
(``{"status": {"data": {"type": "leadstatuses", "id": "new"}}}``); everything else is an
attribute. Oro's collection attributes ``emails``/``phones`` take ``[{"email": …}]`` /
``[{"phone": …}]``; a single-valued e-mail or phone attribute takes its first value.
Percent fields are typed 0–100 in the form and sent as Oro keeps them: a fraction (0–1).
A ``customer`` field's reference goes to the ``account`` relationship (an account) or the
``customer`` relationship (a business customer), as Oro's opportunities take them.
A case's sender link (``CONTACT_LINKS``) goes to its ``relatedContact`` relationship.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .forms import CONTACT_LINKS, FormDefinition

# attribute name -> key inside each item of Oro's collection attributes
_COLLECTIONS: dict[str, str] = {"emails": "email", "phones": "phone"}
# record type of a customer reference -> the relationship it is sent as
_CUSTOMER_RELATIONSHIPS: dict[str, str] = {"accounts": "account", "b2bcustomers": "customer"}


@dataclass(frozen=True)
class Payload:
    """What one create request sends."""

    resource_type: str
    attributes: dict[str, Any]
    relationships: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.resource_type, "attributes": self.attributes,
                "relationships": self.relationships}


def to_payload(form: FormDefinition, cleaned: Mapping[str, Any]) -> Payload:
    """Map values already cleaned by ``validation.validate`` against ``form`` to a Payload.

    Values of names that are not fields of ``form`` are ignored (validation reports them).
    """
    attributes: dict[str, Any] = {}
    relationships: dict[str, Any] = {}
    for form_field in form.fields:
        if form_field.name not in cleaned:
            continue
        value = cleaned[form_field.name]
        if form_field.type == "enum" and form_field.enum:
            relationships[form_field.name] = {"data": {"type": form_field.enum, "id": str(value)}}
        elif form_field.type == "customer":
            relationships[_CUSTOMER_RELATIONSHIPS[value["type"]]] = {
                "data": {"type": value["type"], "id": str(value["id"])}}
        elif form_field.type in ("email", "phone"):
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            item_key = _COLLECTIONS.get(form_field.name)
            if item_key is not None:
                attributes[form_field.name] = [{item_key: item} for item in items]
            else:
                attributes[form_field.name] = items[0]
        elif form_field.type == "percent":
            attributes[form_field.name] = round(float(value) / 100, 6)
        else:
            attributes[form_field.name] = value
    link_name = CONTACT_LINKS.get(form.kind)
    link = cleaned.get(link_name) if link_name else None
    if link_name and isinstance(link, Mapping) and link.get("id"):
        relationships[link_name] = {"data": {"type": "contacts", "id": str(link["id"])}}
    return Payload(form.resource_type, attributes, relationships)
