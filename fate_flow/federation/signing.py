"""Who sent a request: signatures on party-to-party calls and data-plane pushes, and fate-client's
request signing.

Party-to-party, two modes (``authentication.site.mode``):

- ``ed25519`` (default): each party signs with its own private key; the receiver checks with the public
  key its route table holds for the sender. The signature covers the method, the path, a digest of the
  body, a timestamp, a nonce, the sending and the receiving party (no shared secret to leak, and a call
  signed for one party is no good at another).
- ``hmac``: HMAC-SHA256 with the secret shared with that peer, over the method, the path, a digest of
  the body, a timestamp, a nonce and the sender.

A call outside the allowed clock skew, with a nonce already used (also before a restart: the nonces are
kept in the database), from a party without a key, or with a wrong signature is refused (109).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fate_flow.engine.push import SCHEME_ED25519, SCHEME_HMAC
from fate_flow.entity.task_config import PushSigning
from fate_flow.errors import AuthenticationError
from fate_flow.federation.keys import decode_public_key, load_private_key
from fate_flow.settings import Federation

SRC_PARTY = "X-Flow-Src-Party"
DST_PARTY = "X-Flow-Dst-Party"
TIMESTAMP = "X-Flow-Timestamp"
NONCE = "X-Flow-Nonce"
SIGNATURE = "X-Flow-Signature"
MAX_NONCE_LENGTH = 128


def _site_message(method: str, path: str, body: bytes, timestamp: str, nonce: str, src_party: str) -> bytes:
    return "\n".join([method.upper(), path, hashlib.sha256(body).hexdigest(), timestamp, nonce, src_party]).encode()


def _ed25519_message(method: str, path: str, body: bytes, timestamp: str, nonce: str, src_party: str,
                     dst_party: str) -> bytes:
    return "\n".join(["fate-flow-site-v1", method.upper(), path, hashlib.sha256(body).hexdigest(), timestamp, nonce,
                      src_party, dst_party]).encode()


def site_key(keys: Mapping[str, str], party_id: str) -> str | None:
    """The secret shared with ``party_id``, else the ``default`` one; None when neither is configured."""
    return keys.get(str(party_id)) or keys.get("default")


def _fresh() -> tuple[str, str]:
    return str(int(time.time() * 1000)), uuid.uuid4().hex


def sign_site(key: str, method: str, path: str, body: bytes, src_party: str) -> dict[str, str]:
    """HMAC mode: headers that prove this server (party ``src_party``) sent exactly this request, now, once."""
    timestamp, nonce = _fresh()
    digest = hmac.new(key.encode(), _site_message(method, path, body, timestamp, nonce, src_party), hashlib.sha256)
    return {SRC_PARTY: src_party, TIMESTAMP: timestamp, NONCE: nonce,
            SIGNATURE: base64.b64encode(digest.digest()).decode()}


def sign_site_ed25519(private_key: Ed25519PrivateKey, method: str, path: str, body: bytes, src_party: str,
                      dst_party: str) -> dict[str, str]:
    """Ed25519 mode: headers that prove party ``src_party`` sent exactly this request to ``dst_party``, now,
    once."""
    timestamp, nonce = _fresh()
    message = _ed25519_message(method, path, body, timestamp, nonce, src_party, str(dst_party))
    return {SRC_PARTY: src_party, DST_PARTY: str(dst_party), TIMESTAMP: timestamp, NONCE: nonce,
            SIGNATURE: base64.b64encode(private_key.sign(message)).decode()}


class NonceRecord(Protocol):
    """Where nonces are kept (``fate_flow.operation.nonce_store.NonceStore`` keeps them in the database)."""

    def first_use(self, sender: str, nonce: str, ttl_seconds: float) -> bool:
        """True, recording it, the first time ``sender`` uses ``nonce``; False for a replay."""


class _MemoryNonces:
    """Nonces in this process only (a server keeps them in its database; see NonceCache)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}

    def first_use(self, sender: str, nonce: str, ttl_seconds: float) -> bool:
        now = time.time()
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if t > now}
        if self._seen.get((sender, nonce), 0) > now:
            return False
        self._seen[(sender, nonce)] = now + ttl_seconds
        return True


class NonceCache:
    """Nonces seen within the clock-skew window (older calls fail the timestamp check anyway), kept in
    ``store`` (the database, so that a replay is refused after a restart too)."""

    def __init__(self, ttl_seconds: float, store: NonceRecord | None = None):
        self.ttl = ttl_seconds
        self.store = store if store is not None else _MemoryNonces()

    def first_use(self, nonce: str, sender: str = "") -> bool:
        """True, recording it, the first time ``sender`` uses ``nonce`` within the TTL; False for a replay."""
        return self.store.first_use(sender, nonce, self.ttl)

    def check(self, nonce: str, sender: str, what: str) -> None:
        """AuthenticationError naming ``what`` unless ``nonce`` is well formed and new for ``sender``."""
        if not nonce or len(nonce) > MAX_NONCE_LENGTH:
            raise AuthenticationError(f"{what}: a nonce of 1 to {MAX_NONCE_LENGTH} characters is required")
        if not self.first_use(nonce, sender):
            raise AuthenticationError(f"replayed {what} (nonce already used)")


def check_time(timestamp: str, max_skew: int) -> None:
    """AuthenticationError unless ``timestamp`` (ms since the epoch) is within ``max_skew`` s of now."""
    try:
        sent = int(timestamp) / 1000
    except (TypeError, ValueError):
        raise AuthenticationError(f"bad timestamp {timestamp!r}") from None
    if abs(time.time() - sent) > max_skew:
        raise AuthenticationError(f"request timestamp is more than {max_skew} s away from this server's clock")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


@dataclass
class KeyRing:
    """This party's signing key and what it knows of its partners' keys (one per server)."""

    own_party: str
    mode: str = "ed25519"
    enabled: bool = False  # authentication.site (explicit, or on because partners are configured)
    max_skew: int = 60
    private_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    private_key_file: str = ""
    public_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    hmac_keys: dict[str, str] = field(default_factory=dict, repr=False)  # secrets: never in a log line
    serves: Callable[[str], bool] = field(default=lambda party_id: False)

    @classmethod
    def load(cls, federation: Federation, own_party: str, serves: Callable[[str], bool]) -> KeyRing:
        """The key ring of ``federation``'s settings; KeyFileError when this party's private key is needed
        and cannot be used (the message names the file and what is wrong with it)."""
        ed25519 = federation.site_mode == "ed25519"
        private_key = None
        if federation.site_auth and ed25519:
            private_key = load_private_key(federation.private_key_file)
        return cls(own_party=str(own_party), mode=federation.site_mode, enabled=federation.site_auth,
                   max_skew=federation.max_clock_skew, private_key=private_key,
                   private_key_file=str(federation.private_key_file or ""),
                   public_keys={p: decode_public_key(r.public_key) for p, r in federation.routes.items()
                                if r.public_key and p != "default"},
                   hmac_keys=dict(federation.site_keys), serves=serves)

    # ------------------------------------------------------------------------------------ calls

    def sign(self, method: str, path: str, body: bytes, dst_party: str) -> dict[str, str] | None:
        """Signature headers for a call to ``dst_party``; None when there is no key for it (hmac mode)."""
        if self.mode == "hmac":
            key = site_key(self.hmac_keys, dst_party)
            return sign_site(key, method, path, body, self.own_party) if key else None
        return sign_site_ed25519(self.private_key, method, path, body, self.own_party, dst_party)

    def verify(self, headers: Mapping[str, str], method: str, path: str, body: bytes, nonces: NonceCache) -> str:
        """Check a party-to-party call; returns the sending party id or raises AuthenticationError (109)."""
        src_party, timestamp = headers.get(SRC_PARTY), headers.get(TIMESTAMP)
        nonce, signature = headers.get(NONCE), headers.get(SIGNATURE)
        if not (src_party and timestamp and nonce and signature):
            raise AuthenticationError("unsigned party-to-party request: this server requires signed calls")
        if self.mode == "hmac":
            key = site_key(self.hmac_keys, src_party)
            if key is None:
                raise AuthenticationError(f"no key for party {src_party}: it may not call this server")
            check_time(timestamp, self.max_skew)
            expected = hmac.new(key.encode(), _site_message(method, path, body, timestamp, nonce, src_party),
                                hashlib.sha256).digest()
            valid = hmac.compare_digest(base64.b64encode(expected).decode(), signature)
        else:
            dst_party = headers.get(DST_PARTY) or ""
            if not self.serves(dst_party):
                raise AuthenticationError(f"a call from party {src_party} signed for party {dst_party or '?'}, "
                                          "which this server does not serve")
            public_key = self._public_key(src_party)
            check_time(timestamp, self.max_skew)
            message = _ed25519_message(method, path, body, timestamp, nonce, src_party, dst_party)
            valid = _ed25519_valid(public_key, _b64(signature), message)
        if not valid:
            raise AuthenticationError(f"bad signature on a request from party {src_party}")
        nonces.check(nonce, src_party, f"request from party {src_party}")
        return src_party

    def _public_key(self, party_id: str) -> Ed25519PublicKey:
        key = self.public_keys.get(str(party_id))
        if key is None:
            raise AuthenticationError(f"no public key for party {party_id} (route_table.{party_id}.public_key): "
                                      "it may not call this server")
        return key

    # ------------------------------------------------------------------------------------ data plane

    def verify_push_signature(self, src_party: str, scheme: str, message: bytes, signature: str) -> None:
        """Check the signature of an object pushed by party ``src_party`` (a party of another server);
        AuthenticationError naming the party when it is not that party's."""
        if self.mode == "hmac":
            key = site_key(self.hmac_keys, src_party)
            if key is None:
                raise AuthenticationError(f"no key for party {src_party}: it may not push objects here")
            valid = scheme == SCHEME_HMAC and hmac.compare_digest(
                base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode(), signature)
        else:
            valid = scheme == SCHEME_ED25519 and _ed25519_valid(self._public_key(src_party), _b64(signature), message)
        if not valid:
            raise AuthenticationError(f"bad signature on an object pushed as party {src_party}")

    def push_signing(self, parties: Iterable[str], local_parties: Iterable[str]) -> PushSigning:
        """How this party's executors sign the objects they push to ``parties`` (for the task config):
        the key file's path, never the key (the executor reads it, as the server's user)."""
        mode = self.mode if self.enabled else "none"
        hmac_keys = {}
        if mode == "hmac":
            hmac_keys = {p: k for p in {*map(str, parties), "default"} if (k := site_key(self.hmac_keys, p))}
        return PushSigning(mode=mode, private_key_file=self.private_key_file if mode == "ed25519" else "",
                           hmac_keys=hmac_keys, local_parties=sorted({str(p) for p in local_parties}))


def _ed25519_valid(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
        return True
    except InvalidSignature:
        return False


def verify_client(headers: Mapping[str, str], path_with_query: str, signed_body: bytes, signed_form: bytes,
                  keys: Mapping[str, str], max_skew: int, nonces: NonceCache) -> None:
    """fate-client's signing: base64(HMAC-SHA1(secret, timestamp, nonce, app_key, path?query, body, form)).

    ``signed_body`` and ``signed_form`` are exactly what fate-client signs for the request received (see
    ``fate_flow.access.client_signed_parts``): one reading, no fallback to another.
    """
    timestamp, nonce = headers.get("TIMESTAMP"), headers.get("NONCE")
    app_key, signature = headers.get("APP_KEY") or headers.get("APP-KEY"), headers.get("SIGNATURE")
    if not (timestamp and nonce and app_key and signature):
        raise AuthenticationError("this server requires signed requests: flow init --app-key K --secret-key S")
    secret = keys.get(app_key)
    if secret is None:
        raise AuthenticationError(f"unknown app key {app_key!r}")
    check_time(timestamp, max_skew)
    message = b"\n".join([timestamp.encode(), nonce.encode(), app_key.encode(), path_with_query.encode(),
                          signed_body, signed_form])
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise AuthenticationError("bad request signature: it does not cover this request's path, query and body")
    nonces.check(nonce, app_key, "request")
