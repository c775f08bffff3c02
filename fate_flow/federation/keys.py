"""This party's Ed25519 key pair and its partners' public keys.

The private key is a PEM (PKCS#8) file under the party's home, readable by the server's user only; it
signs every party-to-party call this server makes and every object its executors push. A partner's
public key is the base64 of its raw 32 bytes, written in ``route_table.<party_id>.public_key``.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fate_flow.settings import check_public_key_text

PUBLIC_KEY_SUFFIX = ".pub"


class KeyFileError(ValueError):
    """A key file is missing, unreadable, too widely readable, or not an Ed25519 key (the message says which)."""


def public_key_text(key: Ed25519PublicKey) -> str:
    """The base64 of the raw 32-byte public key, as ``route_table.<party>.public_key`` holds it."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def decode_public_key(text: str) -> Ed25519PublicKey:
    """The public key written as base64 of its 32 raw bytes; ValueError saying what is wrong."""
    check_public_key_text(text)
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(str(text).strip()))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """This party's private key from ``path``; KeyFileError when it is missing, readable by other users,
    or not an unencrypted Ed25519 PEM key."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"no private key at {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is open to other users (mode {stat.S_IMODE(mode):04o}): chmod 600 it")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def create_key_pair(path: Path, force: bool = False) -> Ed25519PrivateKey:
    """Generate a key pair: the private key at ``path`` (mode 0600) and the public key's text next to it
    (``<path>.pub``). An existing private key is kept (FileExistsError) unless ``force``."""
    if path.exists() and not force:
        raise FileExistsError(str(path))
    if not path.parent.exists():  # a directory made here is private; an existing one is left as it is
        path.parent.mkdir(mode=0o700, parents=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    # written under a temporary name created 0600 (never readable by others, not even for a moment),
    # then renamed over the old key: a crash leaves the old key or the new one, never half of one
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(pem)
    os.replace(staging, path)
    public_path(path).write_text(public_key_text(key.public_key()) + "\n")
    return key


def public_path(private_key_path: Path) -> Path:
    """Where ``create_key_pair`` writes the public key's text for a private key file."""
    return private_key_path.with_name(private_key_path.name + PUBLIC_KEY_SUFFIX)
