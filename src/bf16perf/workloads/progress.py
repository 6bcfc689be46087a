"""The live progress lines that training tasks stream to the driver, and their signature.

A line crosses the network in a multi-host cluster, to a port anyone who can reach the
driver can connect to.  Each run's server draws a key (:func:`new_key`) that travels to its
tasks inside the task itself, over Spark's authenticated (and, by default, encrypted) RPC;
a task signs each line with it (HMAC-SHA256, :func:`sign`) and the server shows only the
lines it can verify (:func:`verify`).  Progress is display only: figures and verdicts come
back through Spark, never through this channel.  Imports only the standard library: it
runs in the executors' tasks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["TAG", "ProgressLink", "new_key", "sign", "verify"]

#: How a progress line starts, on a worker's stdout and on the wire.
TAG = b"BF16PERF_PROGRESS"

#: Where a task sends its lines, and the key it signs them with: ``(host, port, key)``.
ProgressLink = tuple[str, int, str]


def new_key() -> str:
    """A fresh 256-bit key, as hex (it travels inside a task's arguments)."""
    return secrets.token_hex(32)


def _mac(key: str, body: bytes) -> bytes:
    return hmac.new(bytes.fromhex(key), body, hashlib.sha256).hexdigest().encode()


def sign(key: str, body: bytes) -> bytes:
    """The wire line for ``body`` (one JSON event, no newline): tag, signature, body."""
    return b"%s %s %s\n" % (TAG, _mac(key, body), body)


def verify(key: str, raw: bytes) -> bytes | None:
    """The body of a wire line whose signature ``key`` verifies, else ``None``."""
    tag, _, rest = raw.rstrip(b"\r\n").partition(b" ")
    mac, _, body = rest.partition(b" ")
    if tag != TAG or not hmac.compare_digest(mac, _mac(key, body)):
        return None
    return body
