"""The facade: the one class the CLI and the GUI drive.

``Client`` owns the paths, the settings, the local store and the credentials; it builds a
CRM client on demand and runs syncs through the engine under the cross-process lock. Its
methods return plain data (dataclasses) or raise the project's errors (``errors.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from keyring.backend import KeyringBackend

from . import __version__
from .credentials import Credentials
from .errors import ConfigurationError, CrmError, TrayClientError
from .paths import AppPaths, resolve_paths
from .settings import Settings, load_settings, save_settings

if TYPE_CHECKING:   # imported where used, so `tray-client --help` stays fast
    import httpx

    from .crm import ConnectionVerdict, CrmClient
    from .crm.auth import AuthorizationCode, OAuth2AuthorizationCode, ServerClock, TokenStore
    from .history import History, QueueEntry
    from .outbox import Outbox
    from .outbox.customers import CustomerChoice
    from .outbox.forms import FormDefinition
    from .store import LocalStore
    from .sync import SyncObserver, SyncResult
    from .sync.rules import EffectiveRule
    from .sync_process import SyncProcess

log = logging.getLogger(__name__)


@dataclass
class ClientStatus:
    """What ``tray-client status`` shows."""

    version: str
    home: str
    configured: bool
    url: str
    user: str
    has_api_key: bool
    sync_disabled: bool
    sync_type: str
    local_counts: dict[str, int]
    linked_counts: dict[str, int]
    last_run: dict[str, Any] | None
    pending_outbox: int = 0
    settings_warning: str | None = None
    auth: str = "wsse"      # "wsse" (API key), "oauth2" (OAuth application), "oauth2_code"
    client_id: str = ""
    has_client_secret: bool = False
    has_secret: bool = False   # the chosen kind's secret (API key, client secret, sign-in)
    # entity -> the rule in force: its values and ``set_by`` ("this computer", or "CRM" for
    # the values the CRM's Outlook section set at the last sync, listed in ``locked``)
    sync_rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    # alpha-2 code for local addresses without a country ("" = none: such addresses fail)
    default_country: str = ""
    default_country_from_locale: bool = False
    default_country_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Client:
    """One user's client: settings, store, credentials, CRM access and syncs.

    Thread-safe for the calls the GUI makes from workers (settings reads, sync, status).
    """

    def __init__(self, home: str | Path | None = None, *,
                 keyring_backend: KeyringBackend | None = None,
                 sync_in_child: bool = False) -> None:
        if sync_in_child and keyring_backend is not None:
            # The child reads the secret from the keyring itself: it cannot see this one.
            raise ValueError("sync_in_child needs the OS keyring (or the environment variable)")
        self.paths: AppPaths = resolve_paths(home).ensure()
        self._keyring_backend = keyring_backend
        self._lock = threading.RLock()
        self.settings_warning: str | None = None
        try:
            self.settings: Settings = load_settings(self.paths.settings_file)
        except ConfigurationError as exc:
            # A damaged file was moved aside; defaults are in use. Tell the user, don't crash.
            self.settings = Settings()
            self.settings_warning = exc.message
        self._store: LocalStore | None = None
        # Sign-in state kept in memory for every CRM client this process makes: the OAuth
        # token (one per application and secret: one renewal serves all threads) and the
        # server's clock offset for WSSE (one per CRM URL).
        self._token_stores: dict[tuple[str, str, str], TokenStore] = {}
        self._server_clocks: dict[str, ServerClock] = {}
        self.store_warning: str | None = None   # opening the store found an empty file
        # The tray app's syncs run in a child process (sync_process.py): its event loop never
        # waits for a sync's CPU. The CLI's run here.
        self._sync_process: SyncProcess | None = None
        if sync_in_child:
            from functools import partial

            from .sync_process import SyncProcess

            # The child makes its own Client for the same home (the plain kind: its syncs
            # run where it is); the class goes by reference, nothing else of this one.
            self._sync_process = SyncProcess(
                partial(Client, None if home is None else str(home)),
                on_pin=self._pinned_elsewhere)

    # -- settings and secrets -------------------------------------------------------------

    def save_settings(self, settings: Settings) -> None:
        """Validate and persist ``settings`` (raises ConfigurationError).

        When the URL or user changes and the new profile has no API key yet, the previous
        profile's key is carried over (a corrected URL is the same account; the key lives in
        the keyring per user and URL); likewise the OAuth client secret when the URL changes
        but not the Client ID. A keyring that cannot be read leaves them as they are.
        """
        with self._lock:
            old = self.settings
            save_settings(settings, self.paths.settings_file)
            self.settings = settings
            if old.configured and settings.configured:
                self._carry_secrets(old, settings)

    def _carry_secrets(self, old: Settings, new: Settings) -> None:
        new_credentials = self._credentials_for(new)
        old_credentials = self._credentials_for(old)
        try:
            if (_carries(old, new, "wsse") and not new_credentials.has_api_key()
                    and old_credentials.has_api_key()):
                new_credentials.set_api_key(old_credentials.api_key())
            if (_carries(old, new, "oauth2") and not new_credentials.has_client_secret()
                    and old_credentials.has_client_secret()):
                new_credentials.set_client_secret(old_credentials.client_secret())
        except TrayClientError as exc:
            log.info("Secret not carried over to the new profile: %s", exc.title)

    def credentials(self) -> Credentials:
        return self._credentials_for(self.settings)

    def set_api_key(self, key: str) -> None:
        """Store the API key in the OS keyring (raises CredentialsError)."""
        self._require_configured()
        self.credentials().set_api_key(key)

    def has_api_key(self) -> bool:
        return self.settings.configured and self.credentials().has_api_key()

    def set_client_secret(self, secret: str) -> None:
        """Store the OAuth application's client secret in the OS keyring."""
        self._require_configured()
        if not self.settings.client_id:
            raise ConfigurationError("Set the OAuth application's Client ID first (Settings, or "
                                     "`tray-client configure --client-id ID`).",
                                     title="No Client ID")
        self.credentials().set_client_secret(secret)

    def has_client_secret(self) -> bool:
        return (self.settings.configured and bool(self.settings.client_id)
                and self.credentials().has_client_secret())

    def has_secret(self) -> bool:
        """True when the secret of the chosen kind of sign-in is at hand."""
        if self.settings.auth == "oauth2_code":
            return (self.settings.configured and bool(self.settings.client_id)
                    and self.credentials().has_refresh_token())
        return self.has_client_secret() if self.settings.auth == "oauth2" else self.has_api_key()

    def _require_configured(self, settings: Settings | None = None) -> None:
        if not (settings or self.settings).configured:
            raise ConfigurationError(
                "Set the CRM URL and user first (Settings, or `tray-client configure --url URL "
                "--user NAME`).", title="Not configured")

    # -- local store ------------------------------------------------------------------------

    @property
    def store(self) -> LocalStore:
        """The local store, opened on first use (``store_warning`` says what opening found)."""
        with self._lock:
            if self._store is None:
                from .store import LocalStore

                self._store = LocalStore(self.paths.store_file)
                self.store_warning = self._store.open_warning
            return self._store

    # -- CRM ------------------------------------------------------------------------------------

    def crm(self, settings: Settings | None = None, *, api_key: str | None = None,
            client_secret: str | None = None) -> CrmClient:
        """A new CRM client (caller closes it; a context manager).

        Without arguments: for the saved settings and the stored secret. With ``settings`` (a
        draft the user has not saved, e.g. the Settings dialog's fields) and ``api_key`` or
        ``client_secret`` (as typed, for the draft's kind of sign-in; None: the stored one):
        for those, and nothing is saved — a certificate pinned on the way is written into the
        draft only. Raises ConfigurationError when URL or user (or the OAuth Client ID) is
        missing, CredentialsError when there is no secret.
        """
        draft = settings is not None
        settings = settings if settings is not None else self.settings
        self._require_configured(settings)
        auth = self._auth(settings, api_key=api_key, client_secret=client_secret)
        return self._crm_with(settings, auth, draft)

    def _crm_with(self, settings: Settings, auth: httpx.Auth, draft: bool) -> CrmClient:
        from .crm import CrmClient

        def remember_pin(fingerprint: str) -> None:
            # The first certificate accepted under "ignore self-signed" is pinned from now on.
            if draft:
                settings.pinned_cert_sha256 = fingerprint   # saved with the draft, or never
                return
            with self._lock:
                self.settings.pinned_cert_sha256 = fingerprint
                save_settings(self.settings, self.paths.settings_file)
            log.info("Pinned the CRM's self-signed certificate (SHA-256 %s)", fingerprint)

        return CrmClient(
            settings.url, settings.user, auth=auth,
            ignore_self_signed=settings.ignore_self_signed_cert,
            pinned_sha256=settings.pinned_cert_sha256 or None,
            on_pin=remember_pin,
        )

    def _auth(self, settings: Settings, *, api_key: str | None = None,
              client_secret: str | None = None) -> httpx.Auth:
        """The sign-in layer for ``settings``' kind with the typed secret (None: the stored
        one), its in-memory state (OAuth token, server clock) shared by every CRM client."""
        import hashlib

        from .crm import normalise_base_url
        from .crm.auth import OAuth2ClientCredentials, ServerClock, TokenStore, WsseAuth

        base_url = normalise_base_url(settings.url)
        if settings.auth in ("oauth2", "oauth2_code") and not settings.client_id.strip():
            raise ConfigurationError(
                "Enter the OAuth application's Client ID in Settings (or `tray-client "
                "configure --client-id ID`).", title="No Client ID")
        if settings.auth == "oauth2_code":
            store = self._code_store(base_url, settings)
            if store.refresh_token is None:
                store.refresh_token = self._credentials_for(settings).refresh_token()
            return self._code_auth(base_url, settings, store)
        if settings.auth == "oauth2":
            secret = client_secret or self._secret_for(settings)
            # A new secret (or application) starts a new token; the digest is only a key.
            key = (base_url, settings.client_id,
                   hashlib.sha256(secret.encode("utf-8")).hexdigest())
            with self._lock:
                store = self._token_stores.setdefault(key, TokenStore())
            return OAuth2ClientCredentials(base_url, settings.client_id, secret, store)
        key_text = api_key or self._secret_for(settings)
        with self._lock:
            clock = self._server_clocks.setdefault(base_url, ServerClock())
        return WsseAuth(settings.user, key_text, clock)

    def _code_store(self, base_url: str, settings: Settings, *, fresh: bool = False
                    ) -> TokenStore:
        """The token store of *Sign in with Oro* for this CRM and application (a new one when
        ``fresh``: a new sign-in replaces the tokens of the old)."""
        from .crm.auth import TokenStore

        key = (base_url, settings.client_id, "authorization_code")
        with self._lock:
            if fresh:
                self._token_stores[key] = TokenStore()
            return self._token_stores.setdefault(key, TokenStore())

    def _code_auth(self, base_url: str, settings: Settings, store: TokenStore,
                   code: AuthorizationCode | None = None) -> OAuth2AuthorizationCode:
        from .crm.auth import OAuth2AuthorizationCode

        credentials = self._credentials_for(settings)

        def keep(refresh_token: str) -> None:
            # Oro rotates the refresh token at every renewal: the keyring keeps the latest.
            try:
                credentials.set_refresh_token(refresh_token)
            except TrayClientError as exc:
                log.warning("The new sign-in could not be kept in the keyring (%s); it lasts "
                            "until the app quits", exc.title)

        def latest() -> str | None:
            # The app's sync process (or the CLI) may have renewed, rotating the token.
            try:
                return credentials.refresh_token()
            except TrayClientError:
                return None   # none kept, or no keyring: this process's own copy

        return OAuth2AuthorizationCode(base_url, settings.client_id, store,
                                       on_refresh_token=keep, code=code,
                                       latest_refresh_token=latest)

    def sign_in_with_browser(self, settings: Settings | None = None, *,
                             open_browser: Callable[[str], object] | None = None,
                             cancel: threading.Event | None = None) -> ConnectionVerdict:
        """*Sign in with Oro…*: the system browser signs the user in on Oro's own page
        (authorization code + PKCE, loopback redirect); the refresh token goes to the keyring.
        Returns the connection's verdict with the new sign-in. ``settings``: the dialog's
        draft (it is not saved). Raises ConfigurationError, AuthError, SignInCancelled.
        """
        import webbrowser

        from .crm import normalise_base_url
        from .crm.signin import authorize_in_browser

        settings = settings if settings is not None else self.settings
        self._require_configured(settings)
        if not settings.client_id.strip():
            raise ConfigurationError("Enter the Client ID of the CRM's OAuth application for "
                                     "this app first.", title="No Client ID")
        base_url = normalise_base_url(settings.url)
        code = authorize_in_browser(base_url, settings.client_id,
                                    open_browser=open_browser or webbrowser.open, cancel=cancel)
        store = self._code_store(base_url, settings, fresh=True)
        auth = self._code_auth(base_url, settings, store, code)
        with self._crm_with(settings, auth, settings is not self.settings) as crm:
            return crm.check_connection()

    def _credentials_for(self, settings: Settings) -> Credentials:
        return Credentials(settings.user, settings.url, client_id=settings.client_id,
                           backend=self._keyring_backend)

    def _secret_for(self, settings: Settings) -> str:
        """The stored secret of ``settings``' kind (API key or client secret) for its profile;
        for an unsaved profile without one, the saved profile's when ``save_settings`` would
        carry it over."""
        def read(profile: Settings) -> str:
            credentials = self._credentials_for(profile)
            return (credentials.client_secret() if settings.auth == "oauth2"
                    else credentials.api_key())   # (oauth2_code keeps no typed secret)

        saved = self.settings
        if not saved.configured or not _carries(saved, settings, settings.auth):
            return read(settings)
        try:
            return read(settings)
        except TrayClientError:
            return read(saved)

    def check_connection(self, settings: Settings | None = None, *,
                         api_key: str | None = None,
                         client_secret: str | None = None) -> ConnectionVerdict:
        """A verdict the user can act on; never raises for network problems.

        ``settings``/``api_key``/``client_secret``: check these unsaved values instead of the
        saved profile (see ``crm``); nothing is saved. Raises ConfigurationError/
        CredentialsError when there is nothing to check with.
        """
        with self.crm(settings, api_key=api_key, client_secret=client_secret) as crm:
            return crm.check_connection()

    def server_configuration(self, settings: Settings | None = None, *,
                             api_key: str | None = None,
                             client_secret: str | None = None) -> dict[str, Any]:
        """The administrator's settings from the CRM (raises CrmError); ``settings`` and the
        secrets as for ``check_connection``."""
        with self.crm(settings, api_key=api_key, client_secret=client_secret) as crm:
            return crm.configuration()

    # -- sync rules -----------------------------------------------------------------------

    def sync_rules(self, configuration: dict[str, Any] | None = None,
                   settings: Settings | None = None) -> dict[str, EffectiveRule]:
        """The rules in force per entity: ``settings`` (the saved ones when None) with the
        CRM's Outlook section on top. ``configuration``: the section as just read; when None,
        the one the last sync read (kept in the store), so this never needs the network.

        Raises ConfigurationError when the section holds a value the client does not know.
        """
        from .sync.rules import effective_rules

        if configuration is None:
            configuration = self.last_section()
        return effective_rules(settings or self.settings, configuration)

    def last_section(self) -> dict[str, Any]:
        """The rule options of the CRM's Outlook section at the last sync ({} if none)."""
        import json

        from .sync.rules import SECTION_META
        from .sync.state import SyncState

        store = self.store
        with store.lock:   # the shared connection: a sync may be using it on its thread
            state = SyncState(store.connection)
            raw = state.meta(SECTION_META) if state.exists() else None
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            value = {}
        return value if isinstance(value, dict) else {}

    @staticmethod
    def apply_default_country(settings: Settings, text: str) -> None:
        """Set the default country (for local addresses without one) in ``settings`` (not
        saved) from a code or a name in any language; ``auto`` or "" = this computer's locale.

        Raises ConfigurationError when no country has that name.
        """
        from . import places

        text = text.strip()
        if text.lower() in ("", "auto"):
            settings.default_country = ""
            return
        code = places.country_code(text)
        if code is None:
            raise ConfigurationError(
                f"No country is called {text!r}; give its name (Germany, Deutschland) or its "
                "ISO 3166 code (DE), or `auto` for this computer's locale.",
                title="Unknown country")
        settings.default_country = code

    @staticmethod
    def apply_rule(settings: Settings, assignment: str) -> None:
        """Set one rule from ``ENTITY.KEY=VALUE`` (DESIGN §9) in ``settings`` (not saved).

        Raises ConfigurationError naming what is wrong.
        """
        from .sync.rules import apply_rule, parse_rule_assignment

        entity, key, value = parse_rule_assignment(assignment)
        apply_rule(settings, entity, key, value)

    # -- sync -------------------------------------------------------------------------------

    @contextmanager
    def _sync_lock(self, wait: float = 0.0) -> Iterator[None]:
        from .sync.lock import SyncLock

        with SyncLock(self.paths.lock_file, wait=wait):
            yield

    def sync(self, *, entities: list[str] | None = None, phase: str = "both",
             resync: bool = False, force_delete: bool = False, trigger: str = "manual",
             observer: SyncObserver | None = None, cancel: threading.Event | None = None,
             wait: float = 0.0) -> SyncResult:
        """Run one sync under the cross-process lock.

        Raises SyncBusyError when another process or thread is syncing this store (after
        waiting up to ``wait`` seconds), ConfigurationError/CredentialsError when it cannot
        start. Everything that happens once the run started is in the returned SyncResult.
        A client made ``sync_in_child`` runs it in its child process (the same run, observer
        calls, cancel and errors; ``SyncError`` if the child dies).
        """
        from .sync import Outcome, SyncEngine

        if self._sync_process is not None:
            return self._sync_process.sync(
                self.settings, observer=observer, cancel=cancel, entities=entities,
                phase=phase, resync=resync, force_delete=force_delete, trigger=trigger,
                wait=wait)

        self._require_configured()
        with self._sync_lock(wait), self.crm() as crm:
            configuration = self._ensure_supported(crm)
            engine = SyncEngine(self.store, crm, self.settings, observer=observer)
            result = engine.run(entities=entities, phase=phase, resync=resync,
                                force_delete=force_delete, trigger=trigger, cancel=cancel,
                                configuration=configuration)
            if phase in ("both", "push") and result.outcome in (Outcome.OK, Outcome.PARTIAL):
                self._send_outbox(crm)
            return result

    def _ensure_supported(self, crm: CrmClient) -> dict[str, Any] | None:
        """Refuse to sync when the CRM's administrator requires a newer client; return the
        configuration read (the run goes by it: one request, not two).

        Raises UnsupportedClientError. A CRM that cannot be read here is left to the engine,
        which reports it as the run's outcome (offline, failed).
        """
        from .updates import ensure_supported

        try:
            configuration: dict[str, Any] = crm.configuration()
        except CrmError:
            return None
        ensure_supported(__version__, configuration)
        return configuration

    def _send_outbox(self, crm: CrmClient) -> None:
        """Send the side panel's queued records; their states live in the outbox."""
        self.outbox().send_pending(crm)

    def search_customers(self, text: str) -> list[CustomerChoice]:
        """Accounts and business customers matching ``text`` (the side panel's picker);
        list of CustomerChoice. Raises CrmError / ConfigurationError."""
        from .outbox import search_customers

        with self.crm() as crm:
            return search_customers(crm, text)

    def sender_account(self, address: str) -> CustomerChoice | None:
        """The account of the contact with this e-mail address (CustomerChoice), or None.
        Raises CrmError / ConfigurationError."""
        from .outbox import account_of_sender

        with self.crm() as crm:
            return account_of_sender(crm, address)

    def sender_contact(self, address: str) -> CustomerChoice | None:
        """The contact with this e-mail address (CustomerChoice of type ``contacts``), or
        None: what a case made from the e-mail links. Raises CrmError / ConfigurationError."""
        from .outbox import contact_of_sender

        with self.crm() as crm:
            return contact_of_sender(crm, address)

    def outbox(self, forms: Mapping[str, FormDefinition] | None = None) -> Outbox:
        """The side panel's outbox in the store's database (sharing its lock); ``forms``: the
        CRM's form definitions to validate entries with (None: the built-in ones)."""
        from .outbox import Outbox

        return Outbox.for_store(self.store, forms)

    @property
    def history(self) -> History:
        """The sync history in the store (runs, report rows, conflicts, the items' states)."""
        from .history import History

        return History(self.store)

    def pending_changes(self) -> list[QueueEntry]:
        """The queue: what the next push would do, then the outbox (slow: it plans against the
        CRM). Raises CrmError / ConfigurationError / CredentialsError."""
        from .history import pending_changes

        with self.crm() as crm:
            return pending_changes(self.store, crm, self.settings)

    def drop_from_queue(self, entry: QueueEntry) -> None:
        """*Drop*: a local change is held (not sent until the item changes again), an outbox
        entry removed (``history.drop``)."""
        from .history import drop

        drop(self.store, entry)

    def reports(self, runs: int = 10) -> list[SyncResult]:
        """The last ``runs`` sync results, newest first."""
        from .sync import load_reports

        return load_reports(self.store, runs)

    def status(self) -> ClientStatus:
        from .store import ENTITIES

        store = self.store
        local_counts = {e: store.count(e) for e in ENTITIES}
        with store.lock:   # the shared connection: a sync may be using it on its thread
            linked_counts = dict(store.connection.execute(
                "SELECT entity, COUNT(*) FROM items WHERE crm_id IS NOT NULL GROUP BY entity"
            ).fetchall())
        linked_counts = {e: linked_counts.get(e, 0) for e in ENTITIES}
        last = self.reports(1)
        pending = self.outbox().pending_count()
        try:
            has_key = self.has_api_key()
            has_client_secret = self.has_client_secret()
            has_secret = self.has_secret()
        except TrayClientError:
            has_key = has_client_secret = has_secret = False
        return ClientStatus(
            version=__version__, home=str(self.paths.data_dir.parent),
            configured=self.settings.configured, url=self.settings.url, user=self.settings.user,
            has_api_key=has_key, sync_disabled=self.settings.disable_sync,
            sync_type=self.settings.sync_type, local_counts=local_counts,
            linked_counts=linked_counts, last_run=last[0].as_dict() if last else None,
            pending_outbox=pending, settings_warning=self.settings_warning,
            auth=self.settings.auth, client_id=self.settings.client_id,
            has_client_secret=has_client_secret, has_secret=has_secret,
            sync_rules=self._rules_status(),
            default_country=self.settings.effective_default_country,
            default_country_from_locale=not self.settings.default_country,
            default_country_name=self._country_name(self.settings.effective_default_country),
        )

    @staticmethod
    def _country_name(code: str) -> str:
        from . import places

        return places.country_name(code) or "" if code else ""

    def _rules_status(self) -> dict[str, dict[str, Any]]:
        try:
            rules = self.sync_rules()
        except ConfigurationError:
            rules = self.sync_rules(configuration={})
        return {entity: {"enabled": rule.enabled, "direction": rule.direction,
                         "conflict_resolution": rule.conflict_resolution,
                         "keys": list(rule.keys), "pull_interval": rule.pull_interval,
                         "push_interval": rule.push_interval,
                         "set_by": "CRM" if rule.locked else "this computer",
                         "locked": sorted(rule.locked)}
                for entity, rule in rules.items()}

    def _pinned_elsewhere(self, fingerprint: str) -> None:
        """The sync process pinned the CRM's certificate (and saved the settings file)."""
        with self._lock:
            self.settings.pinned_cert_sha256 = fingerprint

    def close(self) -> None:
        if self._sync_process is not None:
            self._sync_process.close()
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _carries(old: Settings, new: Settings, kind: str) -> bool:
    """True when a secret of ``kind`` stored for ``old`` belongs to ``new``'s profile too: a
    changed URL or user keeps the API key; a changed URL keeps the client secret of the same
    OAuth application (another Client ID is another application)."""
    if kind == "oauth2":
        return old.url != new.url and bool(old.client_id) and old.client_id == new.client_id
    return (old.url, old.user) != (new.url, new.user)
