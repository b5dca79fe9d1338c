"""Issue 12: every Kubernetes call is bounded. An API server that accepts the connection and never
answers (a hung load balancer, a stopped process) must not hold a reconcile thread for good."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3
from flarekube.kube import apply as k
from kubernetes import client


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never writes a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    t.join()
    for c in held:
        c.close()
    sock.close()


def test_a_silent_api_server_times_out(silent_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k, "REQUEST_TIMEOUT", (1.0, 1.0))
    cfg = client.Configuration()
    cfg.host = silent_server
    cfg.retries = False
    api = client.ApiClient(cfg)
    start = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        k.get(api, "Secret", "default", "anything")
    assert time.monotonic() - start < 5


def test_the_default_bound_is_set() -> None:
    connect, read = k.REQUEST_TIMEOUT
    assert 0 < connect <= 10 and 0 < read <= 60
