"""The outbox: leads, opportunities and cases created locally and sent to the CRM.

Public surface (plain Python, no Qt):

- ``Outbox(connection, forms=None)``: ``add``, ``get``, ``list``, ``update``, ``drop``,
  ``send_pending(crm)``, ``check``; ``OutboxEntry``; ``web_url(base_url, kind, crm_id)``.
- Forms: ``FormDefinition``/``FormField``/``EnumChoice``, ``load_forms(crm)`` (the CRM's
  layouts and enum lists with built-in fallbacks), ``default_forms()``, ``forms_from(...)``.
- ``validate(form, values)`` -> (cleaned, ``FieldProblem`` list); ``to_payload(form, cleaned)``.
- Errors: ``OutboxError`` and ``InvalidEntryError`` (with ``problems``), both TrayClientError.
- Opportunity accounts: ``CustomerChoice``, ``search_customers(crm, text)``,
  ``account_of_sender(crm, address)``; a case's sender: ``contact_of_sender(crm, address)``,
  kept in the entry as ``CONTACT_LINKS[kind]`` (``relatedContact``), not as a form field.
"""

from .customers import CustomerChoice, account_of_sender, contact_of_sender, search_customers
from .forms import (
    CONTACT_LINKS,
    DEFAULT_ENUMS,
    DEFAULT_LAYOUTS,
    KINDS,
    LAYOUT_KEYS,
    RESOURCE_TYPES,
    EnumChoice,
    FormDefinition,
    FormField,
    default_forms,
    fetch_forms,
    forms_from,
    load_forms,
    parse_layout,
)
from .outbox import (
    STATES,
    InvalidEntryError,
    Outbox,
    OutboxEntry,
    OutboxError,
    web_url,
)
from .payload import Payload, to_payload
from .validation import FieldProblem, validate

__all__ = [
    "CONTACT_LINKS", "DEFAULT_ENUMS", "DEFAULT_LAYOUTS", "KINDS", "LAYOUT_KEYS", "RESOURCE_TYPES",
    "STATES", "CustomerChoice", "EnumChoice", "FieldProblem", "FormDefinition", "FormField",
    "InvalidEntryError", "Outbox", "OutboxEntry", "OutboxError", "Payload", "account_of_sender",
    "contact_of_sender", "default_forms", "fetch_forms", "forms_from", "load_forms", "parse_layout",
    "search_customers", "to_payload", "validate", "web_url",
]
