"""A local S3-compatible server for tests: moto's server mode on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from moto.server import ThreadedMotoServer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class S3Server:
    url: str

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[S3Server]:
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()  # returns once it listens
        try:
            yield cls(f"http://127.0.0.1:{port}")
        finally:
            server.stop()
