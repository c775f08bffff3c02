"""The nonces of signed calls already accepted, in the database (``t_seen_nonce``): a signed call or push
cannot be replayed, not even after this server restarts. A nonce is kept until its call could no longer
pass the timestamp check anyway; expired rows are purged now and then.
"""

from __future__ import annotations

import hashlib
import threading
import time

import peewee

from fate_flow.db.connection import CompiledQuery, connection
from fate_flow.db.models import SeenNonce

PURGE_EVERY_S = 60.0
# compiled: every signed call and every pushed object records one
_INSERT_NONCE = CompiledQuery(lambda nonce, sender, expires: SeenNonce.insert(
    f_nonce=nonce, f_party_id=sender, f_expires=expires), arity=3)


def _now_ms() -> int:
    return int(time.time() * 1000)


class NonceStore:
    """Records nonces per scope (``site``, ``push``, ``client``) and sender; shared by every thread of
    the server and, through the database, by its next run."""

    def __init__(self, scope: str, purge_every_s: float = PURGE_EVERY_S):
        self.scope = scope
        self.purge_every_s = purge_every_s
        self._next_purge = 0.0
        self._lock = threading.Lock()

    def row_key(self, sender: str, nonce: str) -> str:
        """The row's key: a digest, so that a sender's nonce of any length or alphabet fits the column."""
        return hashlib.sha256(f"{self.scope}\n{sender}\n{nonce}".encode()).hexdigest()

    def first_use(self, sender: str, nonce: str, ttl_seconds: float) -> bool:
        """True, recording it for ``ttl_seconds``, the first time ``sender`` uses ``nonce``; False for a replay."""
        key, now = self.row_key(sender, nonce), _now_ms()
        expires = now + int(ttl_seconds * 1000)
        with connection():
            self._purge_now_and_then(now)
            try:
                _INSERT_NONCE.execute(key, sender[:50], expires)
                return True
            except peewee.IntegrityError:
                # the key is there: a replay, unless its row expired and was not purged yet
                return SeenNonce.update(f_expires=expires).where(
                    (SeenNonce.f_nonce == key) & (SeenNonce.f_expires < now)).execute() == 1

    def _purge_now_and_then(self, now_ms: int) -> None:
        with self._lock:
            if time.monotonic() < self._next_purge:
                return
            self._next_purge = time.monotonic() + self.purge_every_s
        SeenNonce.delete().where(SeenNonce.f_expires < now_ms).execute()
