"""One tray app per store: a QLocalServer named after the data folder.

The first instance listens; a later launch connects, sends a command line (``show``) and
exits. Commands understood by the app: ``show``, ``sync``, ``settings``, ``quit``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)


def server_name(data_dir: Path) -> str:
    """A short, stable socket name for ``data_dir`` (same store → same name)."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode("utf-8")).hexdigest()
    return f"tray-client-{digest[:16]}"


def send_command(name: str, command: str, timeout_ms: int = 1000) -> bool:
    """Send one command line to the instance listening on ``name``; True if delivered."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(command.encode("utf-8") + b"\n")
    ok = socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(timeout_ms)
    return ok


class SingleInstance(QObject):
    """Owns the listening socket. ``command_received(str)`` fires for each line received."""

    command_received = Signal(str)

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(data_dir)
        self._server: QLocalServer | None = None
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def acquire(self) -> bool:
        """Listen unless another instance is alive. False means: another instance runs."""
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(500):
            probe.disconnectFromServer()
            return False
        # Nobody answered: a socket file left by a crashed instance must not block us.
        QLocalServer.removeServer(self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("single-instance socket %s: %s", self.name, server.errorString())
            return False
        server.newConnection.connect(self._accept)
        self._server = server
        return True

    def send(self, command: str) -> bool:
        return send_command(self.name, command)

    def close(self) -> None:
        for conn in list(self._buffers):
            conn.abort()
        self._buffers.clear()
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None

    def _accept(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            conn = self._server.nextPendingConnection()
            # Reparent to us so the socket outlives neither us nor its buffer entry.
            conn.setParent(self)
            self._buffers[conn] = bytearray()
            # Plain bound methods + sender(): PySide6 miscounts references of
            # functools.partial slots.
            conn.readyRead.connect(self._on_ready_read)
            conn.disconnected.connect(self._on_disconnected)
            if conn.bytesAvailable():
                self._read(conn)

    def _on_ready_read(self) -> None:
        conn = self.sender()
        if isinstance(conn, QLocalSocket):
            self._read(conn)

    def _on_disconnected(self) -> None:
        conn = self.sender()
        if isinstance(conn, QLocalSocket):
            self._drop(conn)

    def _read(self, conn: QLocalSocket) -> None:
        buffer = self._buffers.get(conn)
        if buffer is None:
            return
        buffer.extend(bytes(conn.readAll().data()))
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            command = line.decode("utf-8", "replace").strip()
            if command:
                self.command_received.emit(command)

    def _drop(self, conn: QLocalSocket) -> None:
        self._read(conn)  # a short-lived sender may disconnect right after writing
        if self._buffers.pop(conn, None) is not None:
            conn.deleteLater()
