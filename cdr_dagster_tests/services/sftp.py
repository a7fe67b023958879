"""A real SFTP server (asyncssh) on loopback, key authentication, serving its own folder."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

import asyncssh


@dataclass(frozen=True)
class SftpEndpoint:
    """What a client needs to reach the test server."""

    host: str
    port: int
    username: str
    client_key_file: Path
    known_hosts_file: Path
    root: Path


class SftpServer:
    """asyncssh SFTP server in a background event loop; paths are chrooted to ``root``."""

    USERNAME = "cdrtest"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.root = workdir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = None
        self.endpoint: SftpEndpoint | None = None

    def start(self) -> SftpEndpoint:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key_file = self.workdir / "client_key"
        client_key.write_private_key(str(client_key_file))
        client_key_file.chmod(0o600)
        authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())
        root = str(self.root)

        def sftp_factory(chan):
            return asyncssh.SFTPServer(chan, chroot=root)

        async def serve():
            return await asyncssh.listen(
                "127.0.0.1",
                0,
                server_host_keys=[host_key],
                authorized_client_keys=authorized,
                sftp_factory=sftp_factory,
                allow_scp=False,
            )

        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        known_hosts = self.workdir / "known_hosts"
        public = host_key.export_public_key().decode().strip()
        known_hosts.write_text(f"[127.0.0.1]:{port} {public}\n")
        self.endpoint = SftpEndpoint(
            "127.0.0.1", port, self.USERNAME, client_key_file, known_hosts, self.root
        )
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
