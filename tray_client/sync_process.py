"""Syncs in a process of their own, so the tray app's event loop never waits for one.

A Python process runs one thread at a time (the interpreter lock). A sync on a thread of the
GUI's process held the GUI thread up for 100-230 ms at a time during a 20,000-contact sync:
one C call decoding a 1 MB page, the collections of what the sync allocated. ``SyncProcess``
runs ``Client.sync`` in a child process instead (``multiprocessing``'s *spawn*, the same on
Linux, macOS and Windows), started at the first sync and kept for the next ones, so an
interval run pays no interpreter start-up. The parent's thread only waits on a pipe.

What crosses the pipe:

- parent → child: ``("sync", settings, kwargs)`` (the parent's settings: the run goes by
  exactly what the parent holds), ``("cancel",)`` (the run stops at its next safe point, as
  an in-process cancel does), and ``("stop",)`` or the pipe's end (the child exits).
- child → parent: the observer's calls (``state``, ``progress``, ``finished``), the log
  records of the run (the parent's handlers write them), a certificate pinned during the run,
  then ``("result", SyncResult)`` or ``("error", …)``: the same exception ``Client.sync``
  raises in-process (``SyncBusyError``, ``CredentialsError``, ``UnsupportedClientError``…,
  title and message included).

No secret crosses it: the child reads the API key, client secret or refresh token from the
keyring (or the environment variable) itself, as any process of the app does. A child that
dies mid-run (killed, out of memory) raises a ``SyncError`` saying so; the run's batches are
committed one transaction at a time and the cross-process lock dies with the child, so the
next sync starts a new child and goes on from the last batch written.

*Spawn* starts a new interpreter that imports the parent's main module again (as
``__mp_main__``) unless it is a package's ``__main__``: a script that makes a
``sync_in_child`` client keeps its work under ``if __name__ == "__main__":``, as the app's
entry points (``tray-client``, ``python -m tray_client``, the frozen program) do.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from logging.handlers import QueueHandler
from typing import TYPE_CHECKING, Any, Protocol

from .errors import SyncBusyError, SyncError, TrayClientError
from .sync.lock import BUSY_MESSAGE

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from .settings import Settings
    from .sync import SyncObserver, SyncResult

log = logging.getLogger(__name__)

class Syncing(Protocol):
    """What the child needs of its client (``tray_client.client.Client``)."""

    settings: Settings

    @property
    def sync(self) -> Callable[..., SyncResult]: ...   # Client.sync's keywords
    def close(self) -> None: ...


POLL_SECONDS = 0.25    # how often the waiting parent looks at its cancel event (each look
                       # takes the interpreter lock: at 50 ms, more gaps in the GUI thread)
NICE = 10              # the child's priority below the app's (POSIX nice)
BELOW_NORMAL = 0x4000  # Windows' BELOW_NORMAL_PRIORITY_CLASS
STOP_SECONDS = 5.0     # how long ``close`` waits for the child before terminating it
CLOSE_SECONDS = 30.0   # how long ``close`` waits for a run in progress to stop
IDLE_SECONDS = 600.0   # a child with no sync for this long is stopped (it holds ~80 MB); the
                       # next sync starts another (~0.2 s). Automatic syncs every 30 s or 2
                       # minutes keep it; paused or disabled sync lets it go.


class SyncProcess:
    """One child process that runs the syncs of one client, one at a time.

    ``make_client``: what the child calls to make its client (picklable: the ``Client``
    class's partial for a home folder, see ``Client``); its ``sync`` runs each request.
    ``sync`` blocks the calling thread (never the GUI thread: the tray app calls it from its
    sync worker) until the child's run ends. Thread-safe; ``close`` stops the child.
    """

    def __init__(self, make_client: Callable[[], Syncing], *,
                 on_pin: Callable[[str], None] | None = None) -> None:
        self.make_client = make_client
        self.on_pin = on_pin            # called with a certificate the child pinned
        self._lock = threading.Lock()   # one run at a time
        self._send_lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._requests: Connection | None = None
        self._events: Connection | None = None
        self._exitcode: int | None = None   # of the last child that ended
        self._idle: threading.Timer | None = None   # stops the child after IDLE_SECONDS

    @property
    def pid(self) -> int | None:
        """The child's process id (None before the first sync or after ``close``)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def sync(self, settings: Settings, *, observer: SyncObserver | None = None,
             cancel: threading.Event | None = None, **kwargs: Any) -> SyncResult:
        """``Client.sync(**kwargs)`` in the child with ``settings``; the observer is called
        on this thread. Raises what the child's ``Client.sync`` raised, ``SyncError`` when
        the child died, and ``SyncBusyError`` at once (or after ``wait`` seconds) while
        another thread's sync runs here, as the sync lock does in-process."""
        wait = float(kwargs.get("wait") or 0.0)
        started = time.monotonic()
        if not (self._lock.acquire(timeout=wait) if wait > 0 else self._lock.acquire(False)):
            raise SyncBusyError(BUSY_MESSAGE)
        try:
            self._stop_idle_timer()
            kwargs["wait"] = max(0.0, wait - (time.monotonic() - started))
            return self._sync(settings, observer, cancel, kwargs)
        finally:
            if self._process is not None:
                self._idle = threading.Timer(IDLE_SECONDS, self._stop_when_idle)
                self._idle.daemon = True
                self._idle.start()
            self._lock.release()

    def _stop_idle_timer(self) -> None:
        timer, self._idle = self._idle, None
        if timer is not None:
            timer.cancel()

    def _stop_when_idle(self) -> None:
        """The idle timer's end: stop the child unless a sync runs (or began since)."""
        if not self._lock.acquire(False):
            return
        process = None
        try:
            # Still this timer's child: no sync began since it was set (that cancels it).
            if self._idle is threading.current_thread():
                self._idle = None
                log.debug("stopping the idle sync process")
                with contextlib.suppress(OSError):
                    self._send(("stop",))
                process = self._detach()
        finally:
            self._lock.release()
        self._reap(process)   # a sync asked meanwhile starts a new child at once

    def _sync(self, settings: Settings, observer: SyncObserver | None,
              cancel: threading.Event | None, kwargs: dict[str, Any]) -> SyncResult:
        events = self._start()
        try:
            self._send(("sync", settings, kwargs))
        except OSError as exc:
            self._discard()
            raise self._died() from exc
        cancel_sent = False
        while True:
            if cancel is not None and cancel.is_set() and not cancel_sent:
                cancel_sent = True
                # (a child that is gone: the read below says so)
                with contextlib.suppress(OSError):
                    self._send(("cancel",))
            try:
                if not events.poll(POLL_SECONDS):
                    continue
                message = events.recv()
            except (EOFError, OSError) as exc:
                self._discard()
                raise self._died() from exc
            kind = message[0]
            if kind == "result":
                return message[1]  # type: ignore[no-any-return]
            if kind == "error":
                raise _rebuilt(*message[1:])
            self._relay(kind, message[1:], observer)

    def _send(self, message: tuple[Any, ...]) -> None:
        """To the child (a run's thread and ``close`` may both send)."""
        with self._send_lock:
            if self._requests is None:
                raise OSError("no sync process")
            self._requests.send(message)

    def _relay(self, kind: str, args: tuple[Any, ...], observer: SyncObserver | None) -> None:
        if kind == "log":
            record: logging.LogRecord = args[0]
            logging.getLogger(record.name).handle(record)
        elif kind == "pinned":
            if self.on_pin is not None:
                self.on_pin(args[0])
        elif observer is not None:
            if kind == "state":
                observer.on_state(*args)
            elif kind == "progress":
                observer.on_progress(*args)
            elif kind == "finished":
                observer.on_finished(*args)

    def _start(self) -> Connection:
        """The running child's events end (a new child when there is none or it died)."""
        if (self._process is not None and self._process.is_alive()
                and self._requests is not None and self._events is not None):
            return self._events
        self._discard()
        context = multiprocessing.get_context("spawn")
        requests_in, requests_out = context.Pipe(duplex=False)
        events_in, events_out = context.Pipe(duplex=False)
        process = context.Process(
            target=serve, name="tray-client sync", daemon=True,
            args=(self.make_client, requests_in, events_out,
                  logging.getLogger().getEffectiveLevel()))
        process.start()
        # Only the child holds these ends now: its death ends the parent's reads (EOF).
        requests_in.close()
        events_out.close()
        with self._send_lock:
            self._process, self._requests, self._events = process, requests_out, events_in
        return events_in

    def _died(self) -> SyncError:
        code = self._exitcode
        how = f" (exit code {code})" if code is not None else ""
        return SyncError(
            f"The sync process stopped unexpectedly{how}. Everything it had written is "
            "kept; the next sync goes on from there.", title="Sync process stopped")

    def _discard(self) -> None:
        """Forget a child (dead or being replaced), closing the parent's pipe ends."""
        self._reap(self._detach())

    def _detach(self) -> BaseProcess | None:
        """Forget the child, closing the parent's pipe ends; returns it, to be reaped."""
        with self._send_lock:
            process, self._process = self._process, None
            for end in (self._requests, self._events):
                if end is not None:
                    end.close()
            self._requests = self._events = None
        return process

    def _reap(self, process: BaseProcess | None) -> None:
        """Wait for a forgotten child to exit (terminated when it does not)."""
        if process is not None:
            process.join(STOP_SECONDS if process.is_alive() else None)
            if process.is_alive():
                process.terminate()
                process.join(STOP_SECONDS)
            self._exitcode = process.exitcode

    def close(self) -> None:
        """Stop the child: a run in progress ends at its next safe point (its caller gets
        the run's result), then the child exits."""
        self._stop_idle_timer()
        with contextlib.suppress(OSError):
            self._send(("stop",))
        if not self._lock.acquire(timeout=CLOSE_SECONDS):
            log.warning("A sync was still running when the sync process was stopped")
            self._discard()
            return
        try:
            self._discard()
        finally:
            self._lock.release()


# -- the parent's side of errors -------------------------------------------------------------

def _rebuilt(kind: str, payload: Any, details: str) -> BaseException:
    """The child's exception, rebuilt in the parent (its traceback is logged, DEBUG)."""
    log.debug("the sync process raised:\n%s", details)
    if kind == "ours":
        cls, message, state = payload
        exc: BaseException = cls.__new__(cls)
        Exception.__init__(exc, message)
        exc.__dict__.update(state)
        return exc
    if kind == "pickled":
        return pickle.loads(payload)  # type: ignore[no-any-return]
    return RuntimeError(payload)


def _error_message(exc: BaseException) -> tuple[str, Any, str]:
    """What the child sends for ``exc``: the project's errors by class, message and
    attributes (whatever their ``__init__`` takes); others pickled when they survive it,
    else as text."""
    details = "".join(traceback.format_exception(exc))
    if isinstance(exc, TrayClientError):
        payload = (type(exc), exc.message, dict(exc.__dict__))
        try:
            pickle.loads(pickle.dumps(payload))
            return ("ours", payload, details)
        except Exception:
            return ("ours", (SyncError, exc.message, {"title": exc.title}), details)
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)
        return ("pickled", data, details)
    except Exception:
        return ("text", f"{type(exc).__name__}: {exc}", details)


# -- the child ---------------------------------------------------------------------------------

class _Channel:
    """The child's end of the events pipe; sends from any thread (the sync, its read-ahead
    thread's log records) one message at a time."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.lock = threading.Lock()

    def send(self, *message: Any) -> None:
        with self.lock:
            self.connection.send(message)

    # ``QueueHandler`` puts its prepared records here
    def put_nowait(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError):   # the parent is gone: nobody to tell
            self.send("log", record)


class _Relay:
    """The engine's SyncObserver in the child: every call goes to the parent."""

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel

    def on_state(self, state: str) -> None:
        self.channel.send("state", state)

    def on_progress(self, entity: str, done: int, total: int | None, message: str) -> None:
        self.channel.send("progress", entity, done, total, message)

    def on_finished(self, result: SyncResult) -> None:
        self.channel.send("finished", result)


def serve(make_client: Callable[[], Syncing], requests: Connection, events: Connection,
          level: int) -> None:
    """The child's main: run the parent's sync requests until it says stop or goes away."""
    from .logs import QUIET_LOGGERS

    # Ctrl-C in the terminal that started the app reaches the whole process group: the
    # parent decides when a run stops (cancel) and when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _lower_priority()
    channel = _Channel(events)
    root = logging.getLogger()
    root.handlers[:] = [QueueHandler(channel)]  # type: ignore[arg-type]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))

    runs: queue.Queue[tuple[Any, threading.Event] | None] = queue.Queue()
    current = threading.Event()

    def control() -> None:
        nonlocal current
        while True:
            try:
                message = requests.recv()
            except (EOFError, OSError):
                message = ("stop",)
            if message[0] == "sync":
                current = threading.Event()
                runs.put((message, current))
            elif message[0] == "cancel":
                current.set()
            else:   # stop: the run in progress ends at its next safe point
                current.set()
                runs.put(None)
                return

    threading.Thread(target=control, name="sync control", daemon=True).start()
    try:
        client = make_client()
    except BaseException:
        log.exception("The sync process could not start")   # to the parent's log
        raise
    relay = _Relay(channel)
    try:
        while (job := runs.get()) is not None:
            (_, settings, kwargs), cancel = job
            _run_one(client, channel, relay, settings, kwargs, cancel)
    finally:
        client.close()


def _lower_priority() -> None:
    """A background sync yields the CPU to the user's programs (and to the app's own
    window): nice 10 on Linux and macOS, *below normal* on Windows."""
    try:
        if hasattr(os, "nice"):
            os.nice(NICE)
        elif sys.platform == "win32":  # pragma: no cover - Windows only
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), BELOW_NORMAL)
    except OSError:
        pass   # not allowed here: the sync runs at normal priority


def _run_one(client: Syncing, channel: _Channel, relay: _Relay, settings: Settings,
             kwargs: dict[str, Any], cancel: threading.Event) -> None:
    client.settings = settings   # this process runs nothing else meanwhile
    pin = settings.pinned_cert_sha256
    try:
        result = client.sync(observer=relay, cancel=cancel, **kwargs)
    except BaseException as exc:  # every error reaches the parent, as in-process
        _send_pin(channel, client, pin)
        channel.send("error", *_error_message(exc))
    else:
        _send_pin(channel, client, pin)
        channel.send("result", result)


def _send_pin(channel: _Channel, client: Syncing, before: str) -> None:
    """A certificate pinned during the run (``Client`` saved it) reaches the parent's
    settings too, as it would in-process."""
    pinned = client.settings.pinned_cert_sha256
    if pinned and pinned != before:
        channel.send("pinned", pinned)
