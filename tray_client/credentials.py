"""The API key: only in the OS keyring, or in the ``TRAY_CLIENT_API_KEY`` variable.

There is never a plaintext fallback: when no keyring backend works, ``CredentialsError`` says
what to install and how to use the variable instead.
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

_NO_BACKEND_HELP = (
    "No working OS keyring was found, so the API key cannot be stored safely. Install and "
    "unlock a Secret Service keyring (for example gnome-keyring or KWallet), or set the "
    f"{API_KEY_VARIABLE} environment variable for the process instead."
)


class Credentials:
    """Reads and writes the API key for one CRM user (keyring entry ``tray-client``/``user@url``)."""

    def __init__(self, user: str, url: str, *, backend: KeyringBackend | None = None) -> None:
        self._account = f"{user}@{url.rstrip('/')}"
        self._backend = backend

    def _keyring(self) -> KeyringBackend:
        backend = self._backend or keyring.get_keyring()
        # The fail and null backends mean "nothing usable": say so clearly.
        if isinstance(backend, (keyring.backends.fail.Keyring, keyring.backends.null.Keyring)):
            raise CredentialsError(_NO_BACKEND_HELP, title="No keyring available")
        return backend

    def api_key(self) -> str:
        """The key: the variable when set, else the keyring. Raises CredentialsError."""
        env = os.environ.get(API_KEY_VARIABLE)
        if env:
            return env
        try:
            value = self._keyring().get_password(SERVICE, self._account)
        except keyring.errors.KeyringError as exc:
            raise CredentialsError(f"{_NO_BACKEND_HELP} ({type(exc).__name__})",
                                   title="Keyring unavailable") from None
        if not value:
            raise CredentialsError(
                "No API key is stored for this user. Enter it in Settings (or run "
                "`tray-client configure --api-key-stdin`); generate one on your My User page "
                "in the CRM.", title="No API key")
        return value

    def has_api_key(self) -> bool:
        try:
            return bool(self.api_key())
        except CredentialsError:
            return False

    def set_api_key(self, value: str) -> None:
        """Store the key in the keyring. Raises CredentialsError when it cannot."""
        if not value:
            raise CredentialsError("The API key is empty.", title="No API key")
        try:
            self._keyring().set_password(SERVICE, self._account, value)
        except keyring.errors.KeyringError as exc:
            raise CredentialsError(f"{_NO_BACKEND_HELP} ({type(exc).__name__})",
                                   title="Keyring unavailable") from None

    def delete_api_key(self) -> None:
        try:
            self._keyring().delete_password(SERVICE, self._account)
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as exc:
            raise CredentialsError(f"{_NO_BACKEND_HELP} ({type(exc).__name__})",
                                   title="Keyring unavailable") from None
