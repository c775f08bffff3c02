"""Password hashes for the board's login: scrypt (OpenSSL's, through hashlib) with a random salt.

A hash is one string, ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (base64), so it sits in ``service_conf.yaml``
as it is and carries its own cost: raising the cost later leaves older hashes valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 1 << 15, 8, 1  # ~70 ms and 32 MiB per check on this machine: cheap for a login, dear for a guesser
KEY_BYTES = 32
SALT_BYTES = 16
MAX_PASSWORD_BYTES = 1024  # a longer "password" only costs the server time


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=1 << 26)


def hash_password(password: str) -> str:
    """A new salted hash of ``password`` (ValueError when it is empty or longer than 1,024 bytes)."""
    if not password or len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password must have 1 to {MAX_PASSWORD_BYTES} bytes")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, N, R, P)
    encode = base64.b64encode
    return f"{SCHEME}${N}${R}${P}${encode(salt).decode()}${encode(key).decode()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    sane = 1 < n <= 1 << 20 and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16
    return (n, r, p, salt, key) if sane and len(salt) >= 8 and len(key) == KEY_BYTES else None


def is_hash(stored: str) -> bool:
    """Whether ``stored`` is a hash ``hash_password`` could have written."""
    return _parse(stored) is not None


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (compared in constant time; False for a malformed hash)."""
    parsed = _parse(stored)
    if parsed is None or not password or len(password.encode()) > MAX_PASSWORD_BYTES:
        return False
    n, r, p, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, n, r, p), key)
