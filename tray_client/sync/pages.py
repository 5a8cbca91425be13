"""A large pull's pages decoded and mapped in a worker process, on the machine's other core.

A pull runs in one Python process whose threads share one interpreter lock: while its
read-ahead thread decodes a page (~11 µs a contact) and the engine maps each record
(``mapping.from_crm``, ~10 µs), nothing else runs, though the machine has a second core.
``PageWorker.decode`` is the page decoder a pull hands ``CrmClient.iter_changed``: once a
pull has read a full first page (more are coming), it starts a worker process and, as soon
as that has started, sends it each page's body. The worker answers each record's type, id
and updatedAt, then their canonical mappings, and the pull gets ``LazyResource`` objects
that decode a record's attributes only if something reads them (the usual pull of contacts
or tasks never does): the page keeps its body, decoded here (``decode_document``) the
first time one of its records is read whole. On a first sync into a store that holds items
already, the worker also answers each record's local text (``local_texts``): the stored
text of a local item that maps to exactly that record, which lets the pull take a key
partner holding that text without decoding and mapping it. And when the pull matches
records by key, the worker answers each record's key slot too (``key_slots``): the pull
looks its partner up without making the key itself.

Nothing but decoding moves: requests, sign-in, certificate pinning, retries and every error
stay in the sync's own process. Whatever the worker does not answer with records — a body
of another shape, an error document, a worker that died or did not answer in time — is
decoded here by ``decode_document``, so the result and the
errors raised are the same as without a worker. The worker is started again by the next
pull that needs one; it ends when its pull ends (or its parent dies: end of input). A
pull that stops on an error, or that the user cancels, does not wait for a worker that does
not answer: every wait for it looks at the run's cancel every ``WAIT_SLICE``, and the pull
stops the worker at once on its way out (``stop``).

The worker is this program started again (``python -c ...``, or the frozen app with
``--page-worker``, see installer/tray_client_entry.py), not a multiprocessing child: the
tray app's sync process is a daemonic multiprocessing child, which may not have any.
Messages are pickles, each after its length (8 bytes), over the worker's stdin and stdout.
"""

from __future__ import annotations

import collections
import gc
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from ..credentials import API_KEY_VARIABLE, CLIENT_SECRET_VARIABLE, REFRESH_TOKEN_VARIABLE
from ..crm import Resource
from ..crm.jsonapi import Document, LazyResource, decode_document, split_page
from ..store.local import fields_text
from . import mapping
from .mapping import MappingError
from .matching import key_slot

log = logging.getLogger(__name__)

START_AFTER = 1000    # records of the first page: a full page (the pull reads 1,000 a page)
ANSWER_TIMEOUT = 60.0  # seconds for a page's answer before the page is decoded here
WAIT_SLICE = 0.1       # seconds between two looks at the run's cancel while waiting
WORKER_FLAG = "--page-worker"   # the frozen app's argument for the worker
COLLECT_EVERY = 20    # pages between two collections in the worker
WAIT_READY = False     # tests: wait for a worker started, so it decodes from the next page
_LENGTH = struct.Struct("!Q")


def write_message(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    """The next message, or raises EOFError when the other end closed."""
    head = _read_exactly(stream, _LENGTH.size)
    return pickle.loads(_read_exactly(stream, _LENGTH.unpack(head)[0]))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            raise EOFError
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


# -- the worker's side ------------------------------------------------------------------------

def split(content: bytes) -> tuple[Any, ...] | None:
    """A page of the plain shape taken apart (``jsonapi.split_page``): the first answer for
    it (its links, its meta and its records as ``(type, id, updated_at)``) and the records
    to map; None for any other body, which ``decode_document`` decodes in the pull."""
    page = split_page(content)
    if page is None:
        return None
    links, meta, records = page
    return (links, meta, [(res.type, res.id, res.updated_at) for res in records]), records


def canonicals(entity: str, records: list[Any]) -> list[dict[str, Any] | None]:
    """Each record's ``mapping.from_crm``, None where it raises (the pull maps that record
    again and reports it)."""
    out: list[dict[str, Any] | None] = []
    for res in records:
        try:
            out.append(mapping.from_crm(entity, res))
        except MappingError:
            out.append(None)
    return out


def local_texts(entity: str, mapped: list[dict[str, Any] | None],
                exact: tuple[tuple[str, ...], str]) -> list[Any]:
    """For each mapping, the stored text of a local item that maps to it, and what it maps
    to: ``(text, diff)``, or None.

    ``exact``: rows and the default country. The text is that of the fields
    ``new_local_fields`` makes of those rows: the item a pull creates (it has the rows the
    pass writes), or an item of the user's own holding every row (birthdays while Sync
    Birthdays is off: ``pull._exact`` chooses). The item's mapping is ``from_local`` of
    those fields; ``diff`` holds the rows where it differs from the record's, with the
    item's values (``{"birthday": None}`` for an item without its birthday), else None.

    A first sync into a full address book meets items like these: an item whose stored text
    is this text maps to the record's values with ``diff`` applied, so the pull takes those
    without decoding and mapping the item (``matching.local_match``)."""
    names, default_country = exact
    out: list[Any] = []
    for crm in mapped:
        answer: tuple[str, dict[str, Any] | None] | None = None
        if crm is not None:
            try:
                fields = mapping.new_local_fields(entity, crm, names)
                if fields is not None:
                    text = fields_text(fields)
                    # The fields themselves, not their text read back: they are text,
                    # lists of text and dicts of text, which JSON gives back as they are.
                    back = mapping.from_local(entity, fields, default_country=default_country)
                    if back == crm:   # the usual case, compared in C
                        answer = (text, None)
                    elif back.keys() == crm.keys():
                        diff = {k: v for k, v in back.items() if v != crm[k]}
                        answer = (text, diff)
            except Exception:   # whatever such an item would be: no shortcut
                answer = None
        out.append(answer)
    return out


def key_slots(mapped: list[dict[str, Any] | None], rows: tuple[str, ...]) -> list[str | None]:
    """Each mapping's key slot for ``rows`` (``matching.key_slot``; "": an empty key), None
    where there is no mapping or its key cannot be made (the pull makes it then)."""
    out: list[str | None] = []
    for crm in mapped:
        slot = None
        if crm is not None:
            try:
                slot = key_slot(crm, rows)
            except Exception:
                slot = None
        out.append(slot)
    return out


def mappings(entity: str, records: list[Any], exact: tuple[tuple[str, ...], str] | None,
             key_rows: tuple[str, ...] | None = None) -> tuple[Any, ...]:
    """The second answer: the records' mappings (``canonicals``) and, when the pull asks,
    their local texts (``exact``: ``local_texts``) and their key slots (``key_rows``:
    ``key_slots``), each else None."""
    mapped = canonicals(entity, records)
    return (mapped, None if exact is None else local_texts(entity, mapped, exact),
            None if key_rows is None else key_slots(mapped, key_rows))


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The worker: says it is ready, then answers each ``(entity, body, exact, key_rows)``
    until the end of its input — first the page's records (or None), then, for records,
    their mappings, local texts and key slots (``mappings``, or None) — so the pull asks
    for the next page while this one is mapped."""
    # A page's records, resources and mappings make no reference cycles (an included
    # resource does not point back at its page: jsonapi.Resource), so they are freed as
    # they go; the cyclic collector, which scanned them many times a page, runs only every
    # COLLECT_EVERY pages (the worker's CPU 42–46 → 34–37 µs a demo contact, in-process).
    gc.disable()
    write_message(answers, "ready")
    pages = 0
    while True:
        try:
            entity, content, exact, key_rows = read_message(requests)
        except EOFError:
            return
        pages += 1
        if pages % COLLECT_EVERY == 0:
            gc.collect()
        try:
            first = split(content)
        except Exception:   # anything odd: the pull decodes that page itself
            first = None
        write_message(answers, None if first is None else first[0])
        if first is not None:
            try:   # packed: unpacked where the pull reads the page's first mapping
                second: bytes | None = pickle.dumps(mappings(entity, first[1], exact, key_rows),
                                                    protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                second = None
            write_message(answers, second)


def serve_stdio() -> None:
    """The worker process's entry point."""
    # Ctrl+C in a terminal reaches the whole process group: the pull stops the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)


# The secrets the environment may hold (the client's: ``credentials``; the reference
# server's, which ``tray-client demo`` passes to it): the worker decodes pages and signs
# nothing.
SECRET_VARIABLES = (API_KEY_VARIABLE, CLIENT_SECRET_VARIABLE, REFRESH_TOKEN_VARIABLE,
                    "TRAY_CLIENT_DEVSERVER_API_KEY", "TRAY_CLIENT_DEVSERVER_CLIENT_SECRET")


def worker_command() -> tuple[list[str], dict[str, str]]:
    """The command line and environment (without the secrets) that start a worker."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    if getattr(sys, "frozen", False):
        return [sys.executable, WORKER_FLAG], env
    # This very package, whichever path it was imported from.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return [sys.executable, "-c",
            "from tray_client.sync.pages import serve_stdio; serve_stdio()"], env


# -- the pull's side --------------------------------------------------------------------------

class PageWorker:
    """The page decoder of one pull of ``entity`` (``decode``), with its worker process;
    close it (a context manager). ``exact``: rows and the default country, for the records'
    local texts (``local_texts``); ``key_rows``: the rows of the pass's key, for the
    records' key slots (``key_slots``); None: none are made."""

    def __init__(self, entity: str, *, start_after: int | None = None,
                 wait_ready: bool | None = None,
                 cancel: threading.Event | None = None,
                 exact: tuple[tuple[str, ...], str] | None = None,
                 key_rows: tuple[str, ...] | None = None) -> None:
        self.entity = entity
        self.exact = exact
        self.key_rows = key_rows
        self.cancel = cancel   # the run's: set, no wait for the worker goes on
        self.start_after = START_AFTER if start_after is None else start_after
        self.wait_ready = WAIT_READY if wait_ready is None else wait_ready
        self.pages_sent = 0            # pages the worker decoded (tests, benchmarks)
        self._process: subprocess.Popen[bytes] | None = None
        self._documents: queue.Queue[Any] = queue.Queue()
        self._mapping: collections.deque[_Page] = collections.deque()
        self._ready = threading.Event()
        self._failed = False

    def __enter__(self) -> PageWorker:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.stop()

    def decode(self, content: bytes) -> Document:
        """``decode_document(content)``, by the worker when it runs."""
        if self._ready.is_set() and not self._failed:
            doc = self._remote(content)
            if doc is not None:
                return doc
        elif self._process is not None and not self._failed:
            # The worker is starting (~0.2 s): the page is decoded here, its records kept as
            # the worker keeps them (their JSON), so the read-ahead holds as many of them as
            # of the worker's and the walk goes on meanwhile; the pull maps them.
            first = split(content)
            if first is not None:
                page = _Page(self.cancel)
                page.fill(None)
                return page.document(first[0], body=content)
        doc = decode_document(content)
        if (self._process is None and not self._failed and isinstance(doc.data, list)
                and len(doc.data) >= self.start_after):
            self._start()
        return doc

    def _remote(self, content: bytes) -> Document | None:
        process = self._process
        assert process is not None and process.stdin is not None
        try:
            write_message(process.stdin, (self.entity, content, self.exact, self.key_rows))
            answer = self._next_document()
        except (OSError, ValueError, queue.Empty) as exc:
            self._give_up(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return None
        except _Cancelled:
            # Its answer may still come, after this page: the worker is of no more use.
            log.info("The run was cancelled: the page worker is stopped")
            self.stop()
            return None
        if answer is _GONE:
            self._give_up(f"it ended (exit code {process.poll()})")
            return None
        if answer is None:
            return None
        self.pages_sent += 1
        page, records = answer
        return page.document(records, body=content)  # type: ignore[no-any-return]

    def _next_document(self) -> Any:
        """The worker's next answer for ``_remote``; raises queue.Empty when it does not
        come within ANSWER_TIMEOUT, _Cancelled once the run is cancelled."""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            try:
                return self._documents.get(timeout=max(0.0, min(left, WAIT_SLICE)))
            except queue.Empty:
                if self.cancel is not None and self.cancel.is_set():
                    raise _Cancelled() from None
                if left <= WAIT_SLICE:
                    raise

    def _start(self) -> None:
        argv, env = worker_command()
        try:
            process = subprocess.Popen(
                argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        except OSError as exc:
            self._failed = True
            log.info("No page worker (%s): the pull decodes its pages itself", exc)
            return
        self._process = process
        threading.Thread(target=self._read_answers, args=(process,), daemon=True,
                         name="page-worker-answers").start()
        if self.wait_ready:
            self._ready.wait(ANSWER_TIMEOUT)

    def _read_answers(self, process: subprocess.Popen[bytes]) -> None:
        """The worker's answers, in order (its first: ready): a page's records become a
        document for ``_remote``, their mappings are set on them."""
        assert process.stdout is not None
        try:
            if read_message(process.stdout) == "ready":
                self._ready.set()
            while True:
                answer = read_message(process.stdout)
                if isinstance(answer, tuple):   # a page's records
                    page = _Page(self.cancel)
                    self._mapping.append(page)
                    self._documents.put((page, answer))
                elif answer is None and not self._mapping:   # a page to decode here
                    self._documents.put(None)
                else:   # the mappings of the oldest page waiting for them (packed)
                    self._mapping.popleft().fill(answer if isinstance(answer, bytes) else None)
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, IndexError):
            pass
        finally:
            while self._mapping:
                self._mapping.popleft().fill(None)
            self._documents.put(_GONE)

    def _give_up(self, why: str) -> None:
        log.warning("The page worker stopped answering (%s); the pull decodes its pages "
                    "itself", why)
        self._failed = True
        self._stop(kill=True)

    def close(self) -> None:
        """End the worker (its end of input), waiting a little for it; one still starting
        is stopped at once."""
        self._stop(kill=not self._ready.is_set())

    def stop(self) -> None:
        """Stop the worker at once (the pull stops: an error, a cancel); its pages' records
        waiting for their mappings get none (``_Page.wait`` returns), and this process
        decodes any page still to come."""
        self._failed = True
        self._stop(kill=True)

    def _stop(self, *, kill: bool) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        self._ready.clear()
        if kill:
            process.kill()
        # Its end of input ends the worker; then its answers' end ends the reading thread.
        _close(process.stdin)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _close(process.stdout)


def _close(stream: IO[bytes] | None) -> None:
    try:
        if stream is not None:
            stream.close()
    except OSError:
        pass


class _Page:
    """A page the worker sent, waiting for its records' mappings: they come packed
    (``fill``) and are unpacked when the first of them is read (``LazyResource.canonical``
    calls ``wait``), so a page waiting in the read-ahead holds them in ~a fourth of the
    memory. None for each when the worker gave none."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel
        self.records: list[LazyResource] = []
        # The page's body until one of its records is read whole, then its records.
        self._body: bytes | None = None
        self._data: list[Resource] | None = None
        self._packed: bytes | None = None
        self._filled = threading.Event()
        self._lock = threading.Lock()

    def document(self, answer: tuple[Any, ...], *, body: bytes) -> Document:
        """The page's document from the first answer for it (``split``), its records
        waiting here for their mappings; ``body``, the page, for ``resource``."""
        links, meta, records = answer
        self._body = body
        made = LazyResource.made
        self.records = [made(type_, id_, stamp, index, self)
                        for index, (type_, id_, stamp) in enumerate(records)]
        return Document(data=self.records, included={},  # type: ignore[arg-type]
                        links=links, meta=meta)

    def resource(self, index: int) -> Resource:
        """Record ``index`` as ``decode_document`` makes it: the page's body is decoded
        the first time (its records then kept as long as the page)."""
        with self._lock:
            if self._data is None:
                data = decode_document(self._body or b"").data
                assert isinstance(data, list)   # it was, when the page was split
                self._data, self._body = data, None
            return self._data[index]

    def fill(self, packed: bytes | None) -> None:
        self._packed = packed
        self._filled.set()

    def wait(self) -> None:
        if not self._wait_filled():
            log.warning("The page worker did not map a page in time; the pull maps it")
        with self._lock:
            records, packed = self.records, self._packed
            if not records:
                return   # unpacked already
            values: Any = None
            texts: Any = None
            slots: Any = None
            if packed is not None:
                try:
                    values, texts, slots = pickle.loads(packed)
                except Exception:
                    values = texts = slots = None
            if not isinstance(values, list) or len(values) != len(records):
                values = texts = slots = None
            if not isinstance(texts, list) or len(texts) != len(records):
                texts = None
            if not isinstance(slots, list) or len(slots) != len(records):
                slots = None
            for index, record in enumerate(records):
                record.canonical = None if values is None else values[index]
                record.local_text = None if texts is None else texts[index]
                record.key_slot = None if slots is None else slots[index]
            # Each record holds its page: no reference cycle left.
            self.records, self._packed = [], None

    def _wait_filled(self) -> bool:
        """Whether the mappings came (within ANSWER_TIMEOUT); a cancelled run waits no
        more (its records get none: the pull stops at its next step anyway)."""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not self._filled.wait(max(0.0, min(deadline - time.monotonic(), WAIT_SLICE))):
            if self.cancel is not None and self.cancel.is_set():
                return True
            if time.monotonic() >= deadline:
                return False
        return True


class _Cancelled(Exception):
    """The run was cancelled while waiting for the worker (``PageWorker._next_document``)."""


_GONE = object()   # the worker ended (its answers' end)
