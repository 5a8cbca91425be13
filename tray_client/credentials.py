"""The secrets: only in the OS keyring, or in a variable of the process.

The API key (WSSE) under ``tray-client``/``user@url``, ``TRAY_CLIENT_API_KEY`` overriding it;
the OAuth application's client secret under ``tray-client``/``oauth2:client_id@url``,
``TRAY_CLIENT_CLIENT_SECRET`` overriding it; the refresh token of *Sign in with Oro* under
``oauth2-refresh:client_id@url``. There is never a plaintext fallback: when no
keyring backend works, ``CredentialsError`` says what to install and how to use the variable
instead.
"""

from __future__ import annotations

import os

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
from keyring.backend import KeyringBackend

from .errors import CredentialsError

SERVICE = "tray-client"
API_KEY_VARIABLE = "TRAY_CLIENT_API_KEY"
CLIENT_SECRET_VARIABLE = "TRAY_CLIENT_CLIENT_SECRET"
REFRESH_TOKEN_VARIABLE = "TRAY_CLIENT_REFRESH_TOKEN"


def _no_backend_help(what: str, variable: str) -> str:
    return (f"No working OS keyring was found, so the {what} cannot be stored safely. Install "
            "and unlock a Secret Service keyring (for example gnome-keyring or KWallet), or "
            f"set the {variable} environment variable for the process instead.")




class _Secret:
    """One secret: a keyring entry, overridden by a variable when that is set."""

    def __init__(self, account: str, variable: str, what: str, missing: str) -> None:
        self.account, self.variable, self.what, self.missing = account, variable, what, missing

    @property
    def help(self) -> str:
        return _no_backend_help(self.what, self.variable)


class Credentials:
    """Reads and writes the secrets for one CRM user: the API key (keyring entry
    ``tray-client``/``user@url``) and the OAuth client secret (``oauth2:client_id@url``)."""

    def __init__(self, user: str, url: str, *, client_id: str = "",
                 backend: KeyringBackend | None = None) -> None:
        base = url.rstrip("/")
        self._api_key = _Secret(
            f"{user}@{base}", API_KEY_VARIABLE, "API key",
            "No API key is stored for this user. Enter it in Settings (or run `tray-client "
            "configure --api-key-stdin`); generate one on your My User page in the CRM.")
        self._client_secret = _Secret(
            f"oauth2:{client_id}@{base}", CLIENT_SECRET_VARIABLE, "client secret",
            "No client secret is stored for this OAuth application. Enter it in Settings (or "
            "run `tray-client configure --client-secret-stdin`); Oro shows it once, when the "
            "application is created on your My User page.")
        self._refresh_token = _Secret(
            f"oauth2-refresh:{client_id}@{base}", REFRESH_TOKEN_VARIABLE, "sign-in",
            "This computer is not signed in to the CRM yet: use Sign in with Oro… in Settings "
            "(or `tray-client sign-in`).")
        self._backend = backend

    def _keyring(self, secret: _Secret) -> KeyringBackend:
        backend = self._backend or keyring.get_keyring()
        # The fail and null backends mean "nothing usable": say so clearly.
        if isinstance(backend, (keyring.backends.fail.Keyring, keyring.backends.null.Keyring)):
            raise CredentialsError(secret.help, title="No keyring available")
        return backend

    def _get(self, secret: _Secret) -> str:
        env = os.environ.get(secret.variable)
        if env:
            return env
        try:
            value = self._keyring(secret).get_password(SERVICE, secret.account)
        except keyring.errors.KeyringError as exc:
            raise CredentialsError(f"{secret.help} ({type(exc).__name__})",
                                   title="Keyring unavailable") from None
        if not value:
            raise CredentialsError(secret.missing, title=f"No {secret.what}")
        return value

    def _has(self, secret: _Secret) -> bool:
        try:
            return bool(self._get(secret))
        except CredentialsError:
            return False

    def _set(self, secret: _Secret, value: str) -> None:
        if not value:
            raise CredentialsError(f"The {secret.what} is empty.", title=f"No {secret.what}")
        try:
            self._keyring(secret).set_password(SERVICE, secret.account, value)
        except keyring.errors.KeyringError as exc:
            raise CredentialsError(f"{secret.help} ({type(exc).__name__})",
                                   title="Keyring unavailable") from None

    def _delete(self, secret: _Secret) -> None:
        try:
            self._keyring(secret).delete_password(SERVICE, secret.account)
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as exc:
            raise CredentialsError(f"{secret.help} ({type(exc).__name__})",
                                   title="Keyring unavailable") from None

    def api_key(self) -> str:
        """The key: the variable when set, else the keyring. Raises CredentialsError."""
        return self._get(self._api_key)

    def has_api_key(self) -> bool:
        return self._has(self._api_key)

    def set_api_key(self, value: str) -> None:
        """Store the key in the keyring. Raises CredentialsError when it cannot."""
        self._set(self._api_key, value)

    def delete_api_key(self) -> None:
        self._delete(self._api_key)

    def client_secret(self) -> str:
        """The OAuth client secret: the variable when set, else the keyring."""
        return self._get(self._client_secret)

    def has_client_secret(self) -> bool:
        return self._has(self._client_secret)

    def set_client_secret(self, value: str) -> None:
        """Store the client secret in the keyring. Raises CredentialsError when it cannot."""
        self._set(self._client_secret, value)

    def refresh_token(self) -> str:
        """The refresh token of *Sign in with Oro* (kept in the keyring between runs)."""
        return self._get(self._refresh_token)

    def has_refresh_token(self) -> bool:
        return self._has(self._refresh_token)

    def set_refresh_token(self, value: str) -> None:
        self._set(self._refresh_token, value)
