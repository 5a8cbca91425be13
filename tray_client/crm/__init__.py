"""The CRM client: Oro's JSON:API over httpx, signed with WSSE or OAuth 2.0.

Public surface (see docs/architecture.md, "tray_client.crm"):

    CrmClient            one client per CRM user; streams collections; raises CrmError
    Resource, Ref        parsed JSON:API resources and identifiers
    Cursor               a position in (updatedAt, id) order for iter_changed
    Removal, EnumValue   items of the removals feed and of enum resources
    ConnectionVerdict    check_connection's answer, with VerdictKind
    DnsError, RefusedError, NotJsonApiError   finer CrmError subclasses (see errors.py)

Modules: ``client`` (CrmClient), ``auth`` (the sign-in layers: WSSE on the server's clock,
OAuth 2.0 client credentials), ``wsse`` (headers), ``jsonapi`` (parsing), ``errorhandling``
(httpx → errors.py), ``retry`` (backoff), ``pinning`` (self-signed certificates), ``verdict``.
"""

from .client import CrmClient, normalise_base_url
from .errorhandling import DnsError, NotJsonApiError, RefusedError
from .jsonapi import Cursor, EnumValue, Ref, Removal, Resource
from .verdict import ConnectionVerdict, VerdictKind

__all__ = [
           "ConnectionVerdict",
           "CrmClient",
           "Cursor",
           "DnsError",
           "EnumValue",
           "NotJsonApiError",
           "Ref",
           "RefusedError",
           "Removal",
           "Resource",
           "VerdictKind",
           "normalise_base_url",
]
