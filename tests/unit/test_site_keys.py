"""Party keys, the signing settings (on by default with partners, each key named when missing), signatures of
calls and pushes, and the nonce store that outlives a restart."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fate_flow.db.models import SeenNonce
from fate_flow.engine import push
from fate_flow.engine.federation import PushKeys
from fate_flow.entity.task_config import PushSigning
from fate_flow.errors import AuthenticationError
from fate_flow.federation.keys import KeyFileError, create_key_pair, load_private_key, public_key_text
from fate_flow.federation.signing import KeyRing, NonceCache, sign_site_ed25519
from fate_flow.federation.transfer import PushHeader, PushVerifier
from fate_flow.operation.nonce_store import NonceStore
from fate_flow.settings import SettingsError, load_settings

GUEST, HOST = "9999", "10000"


def _settings(tmp_path: Path, routes: dict, site: dict | None = None, federation: str = "direct", **env: str):
    conf = tmp_path / "service_conf.yaml"
    conf.write_text(json.dumps({"party_id": GUEST, "default_engines": {"federation": federation},
                                "route_table": routes, **({"authentication": {"site": site}} if site else {})}))
    return load_settings(conf, tmp_path / "home", environ=env)


def _route(public_key: str = "") -> dict:
    return {"host": "127.0.0.1", "http_port": 1, "grpc_port": 2, **({"public_key": public_key} if public_key else {})}


def _public(key: Ed25519PrivateKey) -> str:
    return public_key_text(key.public_key())


# ------------------------------------------------------------------------------------------ settings


def test_standalone_needs_no_keys_and_partners_turn_signing_on(tmp_path: Path):
    assert not _settings(tmp_path, {}, federation="standalone").federation.site_auth
    assert not _settings(tmp_path, {GUEST: _route()}).federation.site_auth  # only itself: no partner
    with pytest.raises(SettingsError, match=r"setting authentication\.site\.private_key_file: no private key at "
                                            r".*home/keys/site_ed25519\.key; .*fate_flow keys init"):
        _settings(tmp_path, {HOST: _route(_public(Ed25519PrivateKey.generate()))})
    create_key_pair(tmp_path / "home" / "keys" / "site_ed25519.key")
    settings = _settings(tmp_path, {HOST: _route(_public(Ed25519PrivateKey.generate()))})
    assert settings.federation.site_auth and settings.federation.site_mode == "ed25519"
    with pytest.raises(SettingsError, match=r"setting route_table\.10000\.public_key is missing"):
        _settings(tmp_path, {HOST: _route()})
    off = _settings(tmp_path, {HOST: _route()}, {"switch": False}).federation
    assert not off.site_auth and off.site_auth_disabled


def test_misconfigured_keys_are_named(tmp_path: Path):
    with pytest.raises(SettingsError, match=r"route_table\.10000\.public_key is not base64"):
        _settings(tmp_path, {HOST: _route("not base64!")}, {"switch": False})
    with pytest.raises(SettingsError, match=r"route_table\.10000\.public_key decodes to 3 bytes"):
        _settings(tmp_path, {HOST: _route(base64.b64encode(b"abc").decode())})
    with pytest.raises(SettingsError, match=r"authentication\.site\.mode must be ed25519 or hmac, not 'rsa'"):
        _settings(tmp_path, {}, {"mode": "rsa"})
    with pytest.raises(SettingsError, match=r"authentication\.site\.switch must be true or false, got 'yes'"):
        _settings(tmp_path, {}, {"switch": "yes"})
    with pytest.raises(SettingsError, match=r"authentication\.site\.keys\.10000 is missing"):
        _settings(tmp_path, {HOST: _route()}, {"mode": "hmac", "keys": {"10001": "s"}})
    assert _settings(tmp_path, {HOST: _route()}, {"mode": "hmac", "keys": {"default": "s"}}).federation.site_auth
    with pytest.raises(SettingsError, match=r"unknown setting authentication\.site\.mdoe"):
        _settings(tmp_path, {}, {"mdoe": "hmac"})
    with pytest.raises(SettingsError, match=r"unknown setting route_table\.10000\.publickey"):
        _settings(tmp_path, {HOST: {**_route(), "publickey": "x"}})


# ------------------------------------------------------------------------------------------ key files


def test_key_files(tmp_path: Path):
    path = tmp_path / "keys" / "site_ed25519.key"
    key = create_key_pair(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (tmp_path / "keys" / "site_ed25519.key.pub").read_text().strip() == _public(key)
    assert _public(load_private_key(path)) == _public(key)
    with pytest.raises(FileExistsError):
        create_key_pair(path)
    assert _public(load_private_key(path)) == _public(key)
    assert _public(create_key_pair(path, force=True)) != _public(key)
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match=r"open to other users \(mode 0640\): chmod 600 it"):
        load_private_key(path)
    path.write_text("garbage")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        load_private_key(path)
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(KeyFileError, match="not an Ed25519 private key"):
        load_private_key(path)
    with pytest.raises(KeyFileError, match="no private key at"):
        load_private_key(tmp_path / "missing.key")


# ------------------------------------------------------------------------------------------ signatures


def _ring(own: Ed25519PrivateKey, peer: Ed25519PrivateKey) -> KeyRing:
    return KeyRing(own_party=HOST, enabled=True, private_key=own, public_keys={GUEST: peer.public_key()},
                    serves=lambda party: party == HOST)


def test_a_call_is_signed_for_one_receiver_once():
    guest_key, host_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    host, nonces = _ring(host_key, guest_key), NonceCache(60)
    headers = sign_site_ed25519(guest_key, "POST", "/v1/party/j/host/10000/start", b"{}", GUEST, HOST)
    assert host.verify(headers, "POST", "/v1/party/j/host/10000/start", b"{}", nonces) == GUEST
    with pytest.raises(AuthenticationError, match="replayed request from party 9999"):
        host.verify(headers, "POST", "/v1/party/j/host/10000/start", b"{}", nonces)
    for method, path, body in (("GET", "/v1/party/j/host/10000/start", b"{}"),
                               ("POST", "/v1/party/j/host/10000/stop", b"{}"),
                               ("POST", "/v1/party/j/host/10000/start", b"[]")):
        fresh = sign_site_ed25519(guest_key, "POST", "/v1/party/j/host/10000/start", b"{}", GUEST, HOST)
        with pytest.raises(AuthenticationError, match="bad signature on a request from party 9999"):
            host.verify(fresh, method, path, body, nonces)
    elsewhere = sign_site_ed25519(guest_key, "POST", "/p", b"", GUEST, "10001")
    with pytest.raises(AuthenticationError, match="signed for party 10001, which this server does not serve"):
        host.verify(elsewhere, "POST", "/p", b"", nonces)
    stale = {**sign_site_ed25519(guest_key, "POST", "/p", b"", GUEST, HOST), "X-Flow-Timestamp": "1"}
    with pytest.raises(AuthenticationError, match="away from this server's clock"):
        host.verify(stale, "POST", "/p", b"", nonces)


def test_pushes_between_tasks_of_one_server_carry_its_local_token():
    guest_key = Ed25519PrivateKey.generate()
    host = _ring(Ed25519PrivateKey.generate(), guest_key)
    verifier = PushVerifier(host, "the-local-token", host.serves, NonceCache(60))

    def header(src: str, signer, key: str | None = None) -> PushHeader:
        key = key or push.object_key("j_c_0", "x", "root", ("guest", src), ("host", HOST))
        return PushHeader("j", key, "guest", src, "host", HOST, 3,
                          push.sign_push(signer, "j", "guest", src, "host", HOST, key, 3))

    executor = PushKeys(PushSigning(mode="ed25519", local_parties=[HOST]), "the-local-token")
    verifier(header(HOST, executor))  # from one of this server's executors
    impostor = PushKeys(PushSigning(mode="ed25519", local_parties=[HOST]), "a-guessed-token")
    with pytest.raises(AuthenticationError, match="only its own executors"):
        verifier(header(HOST, impostor))
    signed = header(GUEST, lambda _d, m: (push.SCHEME_ED25519, base64.b64encode(guest_key.sign(m)).decode()))
    verifier(signed)
    with pytest.raises(AuthenticationError, match="replayed object pushed as guest 9999"):
        verifier(signed)
    with pytest.raises(AuthenticationError, match="unsigned object pushed as guest 9999"):
        verifier(PushHeader("j", push.object_key("j_c_0", "x", "root", ("guest", GUEST), ("host", HOST)), "guest",
                            GUEST, "host", HOST, 3))
    guest_signer = PushKeys(PushSigning(mode="none", local_parties=[HOST]), "the-local-token")
    other = push.object_key("j_c_0", "x", "root", ("arbiter", GUEST), ("host", HOST))
    with pytest.raises(AuthenticationError, match="its key names arbiter 9999 -> host 10000, not the party"):
        verifier(header(GUEST, guest_signer, other))
    with pytest.raises(AuthenticationError, match="its key names no sender"):
        verifier(header(GUEST, guest_signer, "k"))


# ------------------------------------------------------------------------------------------ nonce store


def test_nonces_are_kept_in_the_database_until_they_expire(database: str):
    store = NonceStore("site", purge_every_s=0)
    assert store.first_use(GUEST, "n1", 60)
    assert not NonceStore("site").first_use(GUEST, "n1", 60)  # another instance: a restarted server
    assert NonceStore("push").first_use(GUEST, "n1", 60) and store.first_use(HOST, "n1", 60)
    assert store.first_use(GUEST, "x" * 1000, 60)  # any length fits: rows are keyed by a digest
    assert store.first_use(GUEST, "short-lived", 0.05)
    time.sleep(0.1)
    assert store.first_use(GUEST, "short-lived", 60)  # an expired row does not block its key
    assert store.first_use(GUEST, "gone", 0.01)
    time.sleep(0.05)
    store.first_use(GUEST, "trigger-purge", 60)
    assert not SeenNonce.select().where(SeenNonce.f_expires < int(time.time() * 1000)).exists()
