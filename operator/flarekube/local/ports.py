"""Local ports for the server: the spec's when free, else free ones (config only: no kit names a port)."""

from __future__ import annotations

import socket


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose(preferred: tuple[int, int]) -> tuple[int, int]:
    """The spec's (FL, admin) ports when free, else two free ones; (fl, fl) when they are equal."""
    fl, admin = preferred
    if fl == admin:
        return (fl, fl) if is_free(fl) else ((p := free_port()), p)
    if is_free(fl) and is_free(admin):
        return fl, admin
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second
