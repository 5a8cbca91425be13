"""The reference CRM server: Oro's JSON:API with WSSE and/or OAuth 2.0 authentication, on SQLite.

A real HTTP server (Starlette + uvicorn) for the demo and the tests. It imports nothing else
of ``tray_client``, so neither it nor the client can hide the other's protocol mistakes.
What it speaks is ``docs/protocol.md``.

    schema.py      resource types, attributes, relationships, enums (one table drives all)
    validation.py  Oro's validation of writes -> 400 with a pointer
    query.py       collection parameters (paging, sort, filters, fields) -> SQL
    database.py    SQLite: schema, per-thread connections (WAL), write lock, settings
    records.py     reads and writes of records, contact addresses, removals feed
    auth.py        WSSE UsernameToken checks, nonce memory; Oro's empty 401
    oauth.py       POST /oauth2-token (client credentials) and bearer tokens, as Oro 6.1
    config.py      the Outlook configuration section and dialog layouts
    faults.py      fault injection for tests
    app.py         the ASGI app: routes, documents, headers
    server.py      uvicorn on a socket bound here (port 0 gives a real port)
    demo.py        deterministic demo data in bulk
    cli.py         ``tray-client-devserver``
    testing.py     RunningServer (background thread) and its in-process admin handle
"""
