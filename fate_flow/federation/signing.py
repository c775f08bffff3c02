"""Who sent a request: HMAC signatures on party-to-party calls, and fate-client's request signing.

Party-to-party: HMAC-SHA256 with the secret shared with that peer, over the method, the path, a
digest of the body, a timestamp and a nonce. A call outside the allowed clock skew, with a nonce
already seen, from an unknown party, or with a wrong signature is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from fate_flow.errors import AuthenticationError

SRC_PARTY = "X-Flow-Src-Party"
TIMESTAMP = "X-Flow-Timestamp"
NONCE = "X-Flow-Nonce"
SIGNATURE = "X-Flow-Signature"


def _site_message(method: str, path: str, body: bytes, timestamp: str, nonce: str, src_party: str) -> bytes:
    return "\n".join([method.upper(), path, hashlib.sha256(body).hexdigest(), timestamp, nonce, src_party]).encode()


def site_key(keys: Mapping[str, str], party_id: str) -> str | None:
    """The secret shared with ``party_id``, else the ``default`` one; None when neither is configured."""
    return keys.get(str(party_id)) or keys.get("default")


def sign_site(key: str, method: str, path: str, body: bytes, src_party: str) -> dict[str, str]:
    """Headers that prove this server (party ``src_party``) sent exactly this request, now, once."""
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    digest = hmac.new(key.encode(), _site_message(method, path, body, timestamp, nonce, src_party), hashlib.sha256)
    return {SRC_PARTY: src_party, TIMESTAMP: timestamp, NONCE: nonce,
            SIGNATURE: base64.b64encode(digest.digest()).decode()}


class NonceCache:
    """Nonces seen within the clock-skew window (older ones would fail the timestamp check anyway)."""

    def __init__(self, ttl_seconds: float):
        self.ttl = ttl_seconds
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str) -> bool:
        """True, recording it, the first time ``nonce`` is seen within the TTL; False for a replay."""
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {n: t for n, t in self._seen.items() if now - t < self.ttl}
            if nonce in self._seen and now - self._seen[nonce] < self.ttl:
                return False
            self._seen[nonce] = now
            return True


def _check_time(timestamp: str, max_skew: int) -> None:
    try:
        sent = int(timestamp) / 1000
    except (TypeError, ValueError):
        raise AuthenticationError(f"bad timestamp {timestamp!r}") from None
    if abs(time.time() - sent) > max_skew:
        raise AuthenticationError(f"request timestamp is more than {max_skew} s away from this server's clock")


def verify_site(headers: Mapping[str, str], method: str, path: str, body: bytes, keys: Mapping[str, str],
                max_skew: int, nonces: NonceCache) -> str:
    """Check a party-to-party call; returns the sending party id or raises AuthenticationError."""
    src_party, timestamp = headers.get(SRC_PARTY), headers.get(TIMESTAMP)
    nonce, signature = headers.get(NONCE), headers.get(SIGNATURE)
    if not (src_party and timestamp and nonce and signature):
        raise AuthenticationError("unsigned party-to-party request: this server requires signed calls")
    key = site_key(keys, src_party)
    if key is None:
        raise AuthenticationError(f"no key for party {src_party}: it may not call this server")
    _check_time(timestamp, max_skew)
    expected = hmac.new(key.encode(), _site_message(method, path, body, timestamp, nonce, src_party),
                        hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(expected).decode(), signature):
        raise AuthenticationError(f"bad signature on a request from party {src_party}")
    if not nonces.first_use(nonce):
        raise AuthenticationError(f"replayed request from party {src_party} (nonce already used)")
    return src_party


def verify_client(headers: Mapping[str, str], path_with_query: str, body: bytes, form: Mapping[str, str],
                  keys: Mapping[str, str], max_skew: int, nonces: NonceCache) -> None:
    """fate-client's signing: base64(HMAC-SHA1(secret, timestamp, nonce, app_key, path?query, body, form)).

    The CLI signs a JSON body even when it is ``{}``, the SDK leaves an empty one out, and neither signs a
    multipart body: each of those readings is accepted.
    """
    timestamp, nonce = headers.get("TIMESTAMP"), headers.get("NONCE")
    app_key, signature = headers.get("APP_KEY") or headers.get("APP-KEY"), headers.get("SIGNATURE")
    if not (timestamp and nonce and app_key and signature):
        raise AuthenticationError("this server requires signed requests: flow init --app-key K --secret-key S")
    secret = keys.get(app_key)
    if secret is None:
        raise AuthenticationError(f"unknown app key {app_key!r}")
    _check_time(timestamp, max_skew)
    form_text = urlencode(sorted(form.items()), quote_via=quote, safe="-._~").encode() if form else b""
    for signed_body in dict.fromkeys([body, b""]):
        message = b"\n".join([timestamp.encode(), nonce.encode(), app_key.encode(), path_with_query.encode(),
                              signed_body, form_text])
        expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha1).digest()).decode()
        if hmac.compare_digest(expected, signature):
            break
    else:
        raise AuthenticationError("bad request signature")
    if not nonces.first_use(nonce):
        raise AuthenticationError("replayed request (nonce already used)")
