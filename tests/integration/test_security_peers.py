"""Party-to-party authentication and authorization, attacked against real servers on loopback.

Each attack is made as an outsider (no key, its own key) or as a partner with its valid key acting beyond
its place, and must fail with a clear error (the retcode, the party and what it may not do named) and no
side effect: rows, mailboxes and files stay as they were.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import sqlite3
import stat
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import grpc
import numpy as np
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fate_flow.engine import codec, push
from fate_flow.engine.federation import Federation
from fate_flow.federation.keys import load_private_key
from fate_flow.federation.signing import sign_site_ed25519
from fate_flow.proto import proxy_pb2, proxy_pb2_grpc
from tests.support import DATA, REPO, FlowCLI, ServerProcess, free_port, make_party_key, start_parties

GUEST, HOST = "9999", "10000"
ENDED = ("success", "failed", "canceled", "timeout")
ROLES = {"guest": [9999], "host": [10000]}


def _conf(roles: dict, params: dict, role_params: dict | None = None, initiator: int = 9999) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": initiator}, "role": roles,
            "job_parameters": {"common": {"task_cores": 1}},
            "component_parameters": {"common": params, **({"role": role_params} if role_params else {})}}


def _private_key(server: ServerProcess) -> Ed25519PrivateKey:
    return load_private_key(server.home / "keys" / "site_ed25519.key")


def _signed_call(sender: ServerProcess, src: str, receiver: ServerProcess, dst: str, path: str,
                 body: dict | None = None) -> dict:
    """POST ``path`` to ``receiver`` signed with ``sender``'s own key, as party ``src`` calling party ``dst``."""
    data = json.dumps(body or {}).encode()
    headers = sign_site_ed25519(_private_key(sender), "POST", path, data, src, dst)
    return _post(receiver, path, data, headers)


def _post(server: ServerProcess, path: str, data: bytes, headers: dict) -> dict:
    return requests.post(server.url + path, data=data, timeout=15,
                         headers={"Content-Type": "application/json", **headers}).json()


def _submit(guest: ServerProcess, dsl: dict, conf: dict) -> str:
    answer = guest.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    assert answer["retcode"] == 0, answer
    return answer["jobId"]


def _tasks(server: ServerProcess, job_id: str, **filters) -> list[dict]:
    return server.post("/v1/job/task/query", {"job_id": job_id, **filters}).get("data") or []


def _wait_running(server: ServerProcess, job_id: str, role: str, component: str, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        tasks = _tasks(server, job_id, role=role, component_name=component)
        if tasks and tasks[0]["f_run_pid"] and tasks[0]["f_party_status"] == "running":
            return
        time.sleep(0.1)
    raise TimeoutError(f"{component} of {job_id} does not run at {role}: {tasks}")


def _mailbox_files(server: ServerProcess, job_id: str) -> list[Path]:
    return [p for p in (server.home / "mailbox" / job_id).rglob("*") if p.is_file()]


def _in_use(server: ServerProcess, job_id: str) -> bool:
    jobs = server.post("/v1/job/list/job", {})["data"]["jobs"]
    return any(job["job_id"] == job_id and job["resource_in_use"] for job in jobs)


def _stop(guest: ServerProcess, *job_ids: str) -> None:
    for job_id in job_ids:
        guest.post("/v1/job/stop", {"job_id": job_id})
    for job_id in job_ids:
        guest.wait_job(job_id, ENDED, timeout=30)


def _ed25519_signer(key: Ed25519PrivateKey):
    def sign(_dst: str, message: bytes) -> tuple[str, str]:
        return push.SCHEME_ED25519, base64.b64encode(key.sign(message)).decode()
    return sign


def _push_refused(target: str, job_id: str, src: tuple[str, str], dst: tuple[str, str], key: str, obj,
                  signer=None) -> str:
    """Push ``obj`` and return why it was refused (the test fails if it was taken)."""
    with pytest.raises(push.TransferError) as refused:
        push.send_object(target, job_id, *src, *dst, key, codec.encode_parts(obj), timeout=5, signer=signer)
    return str(refused.value)


# ------------------------------------------------------------------------------------------ data plane


def test_an_outsider_cannot_push_into_a_running_jobs_mailbox(server_factory):
    parties = start_parties(server_factory, [GUEST, HOST], protocol="grpc")
    guest, host = parties[GUEST], parties[HOST]
    # the host waits for the guest's array while the guest sleeps: a forged array would be consumed
    job_id = _submit(guest, {"components": {"x": {"module": "TestModule"}}},
                     _conf(ROLES, {"x": {"exchange_mb": 0.01}}, {"guest": {"0": {"x": {"sleep": 4}}}}))
    _wait_running(host, job_id, "host", "x")
    key = Federation(job_id, "host", HOST, {}, "", session_id=f"{job_id}_x_0").object_key(
        "array", "root", ("guest", GUEST), ("host", HOST))
    target, forged = f"127.0.0.1:{host.grpc_port}", np.zeros(10)

    unsigned = _push_refused(target, job_id, ("guest", GUEST), ("host", HOST), key, forged)
    assert "UNAUTHENTICATED" in unsigned and "unsigned object pushed as guest 9999" in unsigned, unsigned
    outsider = _push_refused(target, job_id, ("guest", GUEST), ("host", HOST), key, forged,
                             _ed25519_signer(Ed25519PrivateKey.generate()))
    assert "UNAUTHENTICATED" in outsider and "bad signature on an object pushed as party 9999" in outsider
    as_hmac = _push_refused(target, job_id, ("guest", GUEST), ("host", HOST), key, forged,
                            lambda _d, _m: (push.SCHEME_HMAC, base64.b64encode(b"x" * 32).decode()))
    assert "UNAUTHENTICATED" in as_hmac and "party 9999" in as_hmac
    # posing as a party this server serves itself needs its local token
    own_key = push.object_key(f"{job_id}_x_0", "array", "root", ("host", HOST), ("host", HOST))
    as_host = _push_refused(target, job_id, ("host", HOST), ("host", HOST), own_key, forged,
                            _ed25519_signer(_private_key(guest)))
    assert "UNAUTHENTICATED" in as_host and "local token" in as_host and "10000" in as_host

    assert _mailbox_files(host, job_id) == []
    assert _tasks(host, job_id, role="host")[0]["f_party_status"] == "running"
    assert "refused a push" in (host.home / "logs" / "fate_flow" / "fate_flow_audit.log").read_text()
    # the guest's own (signed) array arrives after its sleep: the sums match, so the host read only that one
    assert guest.wait_job(job_id, ENDED, timeout=40)["f_status"] == "success"
    assert host.wait_job(job_id, ENDED, timeout=20)["f_status"] == "success"


def test_hmac_mode_signs_pushes_too(server_factory):
    keys = {GUEST: {HOST: "shared-9999-10000"}, HOST: {GUEST: "shared-9999-10000"}}
    parties = start_parties(server_factory, [GUEST, HOST], keys=keys)
    job_id = _submit(parties[GUEST], {"components": {"x": {"module": "TestModule"}}},
                     _conf(ROLES, {"x": {"exchange_mb": 0.01}}))
    assert parties[GUEST].wait_job(job_id, ENDED, timeout=40)["f_status"] == "success"
    target = f"127.0.0.1:{parties[HOST].grpc_port}"
    key = push.object_key(f"{job_id}_x_0", "late", "root", ("guest", GUEST), ("host", HOST))
    refused = _push_refused(target, job_id, ("guest", GUEST), ("host", HOST), key, 1,
                            lambda _d, m: (push.SCHEME_HMAC, base64.b64encode(
                                hmac.new(b"a guess", m, hashlib.sha256).digest()).decode()))
    assert "UNAUTHENTICATED" in refused and "party 9999" in refused


# ------------------------------------------------------------------------------------------ authorization


CHAIN = {"components": {"a": {"module": "TestModule", "output": {"data": ["data"]}},
                        "b": {"module": "TestModule", "input": {"data": {"data": ["a.data"]}}}}}


def test_a_signed_partner_acts_only_on_its_own_jobs_and_rows(server_factory):
    parties = start_parties(server_factory, [GUEST, HOST])
    guest, host = parties[GUEST], parties[HOST]
    shared = _submit(guest, CHAIN, _conf(ROLES, {"a": {"sleep": 60, "output_rows": 3}, "b": {"pass_through": True}}))
    guest_only = _submit(guest, {"components": {"slow": {"module": "TestModule"}}},
                         _conf({"guest": [9999]}, {"slow": {"sleep": 60}}))
    _wait_running(guest, shared, "guest", "a")
    _wait_running(host, shared, "host", "a")
    _wait_running(guest, guest_only, "guest", "slow")

    def as_host(path: str, body: dict | None = None) -> dict:
        return _signed_call(host, HOST, guest, GUEST, path, body)

    # (a) success for the guest's own task, through the initiator's report route
    answer = as_host(f"/v1/initiator/{shared}/a/{shared}_a/0/guest/{GUEST}/report", {"party_status": "success"})
    assert answer["retcode"] == 108 and "party 10000 may report only on its own tasks" in answer["retmsg"], answer
    # (c) its own task of a component that never ran
    answer = as_host(f"/v1/initiator/{shared}/b/{shared}_b/0/host/{HOST}/report", {"party_status": "success"})
    assert answer["retcode"] == 108 and "component b" in answer["retmsg"] and "not started" in answer["retmsg"]
    # (b) a job it has no part in, and a job it is only a party of
    answer = as_host(f"/v1/initiator/{guest_only}/guest/{GUEST}/stop/canceled")
    assert answer["retcode"] == 108 and f"party 10000 is not a party of job {guest_only}" in answer["retmsg"]
    for job_id in (guest_only, shared):
        answer = as_host(f"/v1/party/{job_id}/guest/{GUEST}/stop/canceled")
        assert answer["retcode"] == 108 and "party 10000 is not the initiator" in answer["retmsg"], answer
    # (d) a running job's cores: not from a partner, and not even from the initiator while it runs
    answer = as_host(f"/v1/party/{shared}/guest/{GUEST}/resource/return")
    assert answer["retcode"] == 108 and "may not return its cores" in answer["retmsg"]
    answer = _signed_call(guest, GUEST, host, HOST, f"/v1/party/{shared}/host/{HOST}/resource/return")
    assert answer["retcode"] == 108 and "running" in answer["retmsg"] and "party 9999" in answer["retmsg"]
    # an executor's report at the host, sent by a partner
    answer = _signed_call(guest, GUEST, host, HOST, f"/v1/party/{shared}/a/{shared}_a/0/host/{HOST}/report",
                          {"party_status": "success"})
    assert answer["retcode"] == 109 and "local token" in answer["retmsg"]
    # an object signed by the host but keyed as the guest's own: the guest's task would take it for its own
    forged_key = push.object_key(f"{shared}_b_0", "x", "root", ("guest", GUEST), ("guest", GUEST))
    refused = _push_refused(f"127.0.0.1:{guest.grpc_port}", shared, ("host", HOST), ("guest", GUEST), forged_key,
                            1, _ed25519_signer(_private_key(host)))
    assert "UNAUTHENTICATED" in refused and "its key names guest 9999 -> guest 9999" in refused, refused
    assert _mailbox_files(guest, shared) == []
    # create: only as the initiator its conf names, a party of the job, and never over someone else's job
    new_job = f"20990101{uuid.uuid4().int % 10**12:012d}"
    claims_guest = {"dsl": CHAIN, "runtime_conf": _conf(ROLES, {})}
    answer = as_host(f"/v1/party/{new_job}/guest/{GUEST}/create", claims_guest)
    assert answer["retcode"] == 108 and "names party 9999 as initiator" in answer["retmsg"]
    outside = {"dsl": CHAIN, "runtime_conf": {**_conf({"guest": [9999]}, {}), "initiator": {"role": "host",
                                                                                          "party_id": 10000}}}
    answer = as_host(f"/v1/party/{new_job}/guest/{GUEST}/create", outside)
    assert answer["retcode"] == 108 and "must be a party" in answer["retmsg"]
    takeover = {"dsl": CHAIN, "runtime_conf": {**_conf(ROLES, {}), "initiator": {"role": "host",
                                                                                 "party_id": 10000}}}
    answer = as_host(f"/v1/party/{shared}/guest/{GUEST}/create", takeover)
    assert answer["retcode"] == 108 and "holds that job from initiator 9999" in answer["retmsg"]

    # nothing changed
    assert guest.post("/v1/job/query", {"job_id": new_job})["data"] == []
    for job_id in (shared, guest_only):
        assert {row["f_status"] for row in guest.post("/v1/job/query", {"job_id": job_id})["data"]} == {"running"}
    statuses = {(t["f_component_name"], t["f_role"]): t["f_party_status"] for t in _tasks(guest, shared)}
    assert statuses == {("a", "guest"): "running", ("a", "host"): "running", ("b", "guest"): "waiting",
                        ("b", "host"): "waiting"}
    assert _in_use(guest, shared) and _in_use(host, shared) and _in_use(guest, guest_only)
    refusals = (guest.home / "logs" / "fate_flow" / "fate_flow_audit.log").read_text()
    assert "refused POST /v1/party/" in refusals and "party '10000'" in refusals
    _stop(guest, shared, guest_only)


# ------------------------------------------------------------------------------------------ authentication


def test_forged_stale_and_replayed_calls_are_refused_also_after_a_restart(server_factory):
    parties = start_parties(server_factory, [GUEST, HOST])
    guest, host = parties[GUEST], parties[HOST]
    path, body = f"/v1/party/no_such_job/host/{HOST}/clean", b"{}"

    unsigned = _post(host, path, body, {"SRC-PARTY-ID": GUEST})
    assert unsigned["retcode"] == 109 and "unsigned" in unsigned["retmsg"]
    outsider = _post(host, path, body, sign_site_ed25519(Ed25519PrivateKey.generate(), "POST", path, body, GUEST,
                                                         HOST))
    assert outsider["retcode"] == 109 and "bad signature on a request from party 9999" in outsider["retmsg"]
    stranger = _post(host, path, body, sign_site_ed25519(_private_key(guest), "POST", path, body, "12345", HOST))
    assert stranger["retcode"] == 109 and "no public key for party 12345" in stranger["retmsg"]
    elsewhere = _post(host, path, body, sign_site_ed25519(_private_key(guest), "POST", path, body, GUEST, "10001"))
    assert elsewhere["retcode"] == 109 and "signed for party 10001" in elsewhere["retmsg"]
    tampered = _post(host, path, b'{"x": 1}', sign_site_ed25519(_private_key(guest), "POST", path, body, GUEST,
                                                                 HOST))
    assert tampered["retcode"] == 109 and "bad signature" in tampered["retmsg"]

    signed = sign_site_ed25519(_private_key(guest), "POST", path, body, GUEST, HOST)
    first = _post(host, path, body, signed)
    assert first["retcode"] == 102 and "no_such_job" in first["retmsg"], first  # authenticated; no such job
    key = push.object_key("no_such_job_x_0", "x", "root", ("guest", GUEST), ("host", HOST))
    frames = list(push.push_frames("no_such_job", "guest", GUEST, "host", HOST, key, b"x",
                                   auth=push.sign_push(_ed25519_signer(_private_key(guest)), "no_such_job", "guest",
                                                       GUEST, "host", HOST, key, 1)))
    assert _raw_push(host, frames) == grpc.StatusCode.PERMISSION_DENIED  # authenticated; not a job running here
    # the audit log's directory is never taken from the URL: no job directory for a job this server lacks
    assert not (host.home / "logs" / "no_such_job").exists()

    host.stop()
    host.start()
    replay = _post(host, path, body, signed)
    assert replay["retcode"] == 109 and "replayed request from party 9999" in replay["retmsg"], replay
    assert _raw_push(host, frames) == grpc.StatusCode.UNAUTHENTICATED
    with sqlite3.connect(host.home / "fate_flow_sqlite.db") as db:
        assert db.execute("SELECT COUNT(*) FROM t_seen_nonce").fetchone()[0] >= 2
    assert not (host.home / "logs" / "no_such_job").exists()


def _raw_push(server: ServerProcess, frames: list[bytes]) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = proxy_pb2_grpc.DataTransferServiceStub(channel)
        try:
            stub.push(iter([proxy_pb2.Packet.FromString(f) for f in frames]), timeout=10)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


# ------------------------------------------------------------------------------------------ keys and settings


def _service_conf(path: Path, routes: dict, site: dict | None = None) -> Path:
    conf = {"party_id": GUEST, "default_engines": {"federation": "direct"}, "route_table": routes,
            **({"authentication": {"site": site}} if site is not None else {})}
    path.write_text(json.dumps(conf))  # JSON is YAML
    return path


def _fails_to_start(server_factory, name: str, config: Path) -> str:
    with pytest.raises(RuntimeError) as failed:
        server_factory("sqlite", name=name, config=config)
    message = str(failed.value)
    assert "Traceback" not in message, message
    return message


def test_signing_is_on_by_default_and_a_party_without_keys_does_not_start(server_factory, tmp_path: Path):
    ports = {p: {"host": "127.0.0.1", "http_port": free_port(), "grpc_port": free_port()} for p in (GUEST, HOST)}
    partner_key = make_party_key(tmp_path / "partner")
    routes = {GUEST: ports[GUEST], HOST: {**ports[HOST], "public_key": partner_key}}
    config = _service_conf(tmp_path / "service_conf.yaml", routes)
    home = server_factory.root / "guest"

    message = _fails_to_start(server_factory, "guest", config)
    assert "authentication.site.private_key_file" in message and "fate_flow keys init" in message

    made = subprocess.run([sys.executable, "-m", "fate_flow", "keys", "init", "--home", str(home), "--config",
                           str(config)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert made.returncode == 0, made.stderr
    key_file = home / "keys" / "site_ed25519.key"
    public_key = (home / "keys" / "site_ed25519.key.pub").read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"public key:  {public_key}" in made.stdout
    assert f'"{GUEST}": {{host: 127.0.0.1, http_port: 9380, grpc_port: 9360, public_key: "{public_key}"}}' \
        in made.stdout
    again = subprocess.run([sys.executable, "-m", "fate_flow", "keys", "init", "--home", str(home)],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert (home / "keys" / "site_ed25519.key.pub").read_text().strip() == public_key

    server = server_factory("sqlite", name="guest", config=config)
    unsigned = _post(server, f"/v1/party/j/guest/{GUEST}/clean", b"{}", {"SRC-PARTY-ID": HOST})
    assert unsigned["retcode"] == 109 and "unsigned" in unsigned["retmsg"]
    server.stop()

    no_partner_key = _service_conf(tmp_path / "no_partner_key.yaml", {**routes, HOST: ports[HOST]})
    message = _fails_to_start(server_factory, "guest", no_partner_key)
    assert "route_table.10000.public_key is missing" in message
    bad_key = _service_conf(tmp_path / "bad_key.yaml", {**routes, HOST: {**ports[HOST], "public_key": "c2hvcnQ="}})
    assert "route_table.10000.public_key decodes to 5 bytes" in _fails_to_start(server_factory, "guest", bad_key)
    key_file.chmod(0o644)
    message = _fails_to_start(server_factory, "guest", config)
    assert "authentication.site.private_key_file" in message and "chmod 600" in message
    key_file.chmod(0o600)

    switched_off = _service_conf(tmp_path / "off.yaml", {**routes, HOST: ports[HOST]}, {"switch": False})
    server = server_factory("sqlite", name="guest", config=switched_off)
    assert "party-to-party calls are not authenticated" in server.stderr_path.read_text()
    warnings = (home / "logs" / "fate_flow" / "WARNING.log").read_text()
    assert "party-to-party calls are not authenticated" in warnings
    # unauthenticated, but still authorized as the party it claims to be
    claimed = _post(server, f"/v1/party/j/guest/{GUEST}/clean", b"{}", {"SRC-PARTY-ID": HOST})
    assert claimed["retcode"] == 102, claimed


# ------------------------------------------------------------------------------------------ fate-client signing


def _fate_client_signature(secret: str, app_key: str, path_url: str, body: bytes) -> dict[str, str]:
    """fate-client 1.11.3's headers (flow_sdk/client/base.py) for ``body`` as it signs it."""
    timestamp, nonce = str(round(time.time() * 1000)), str(uuid.uuid1())
    message = b"\n".join([timestamp.encode(), nonce.encode(), app_key.encode(), path_url.encode(), body, b""])
    signature = base64.b64encode(hmac.new(secret.encode(), message, "sha1").digest()).decode()
    return {"TIMESTAMP": timestamp, "NONCE": nonce, "APP_KEY": app_key, "SIGNATURE": signature}


def test_a_client_signature_covers_the_body_sent(server_factory, flow_cli: FlowCLI, tmp_path: Path):
    server = server_factory("sqlite", env={"FATE_FLOW_AUTHENTICATION__CLIENT__SWITCH": "true",
                                           "FATE_FLOW_AUTHENTICATION__CLIENT__HTTP_APP_KEY": "app1",
                                           "FATE_FLOW_AUTHENTICATION__CLIENT__HTTP_SECRET_KEY": "secret1",
                                           "FATE_FLOW_PARTY_ID": GUEST})
    upload = tmp_path / "upload.json"
    upload.write_text(json.dumps({"file": str(DATA / "breast_hetero_guest.csv"), "head": 1, "partition": 2,
                                  "namespace": "experiment", "table_name": "signed_upload"}))
    dsl, conf = tmp_path / "dsl.json", tmp_path / "conf.json"
    dsl.write_text(json.dumps({"components": {"x": {"module": "TestModule"}}}))
    conf.write_text(json.dumps(_conf(ROLES, {"x": {}})))
    flow_cli.run("init", "--reset")
    try:
        assert flow_cli.run("init", "--ip", "127.0.0.1", "--port", str(server.http_port), "--app-key", "app1",
                            "--secret-key", "secret1")["retcode"] == 0
        uploaded = flow_cli.run("data", "upload", "-c", str(upload), "--drop")
        assert uploaded["retcode"] == 0, uploaded
        assert _wait_signed(server, uploaded["jobId"]) == "success"
        submitted = flow_cli.run("job", "submit", "-c", str(conf), "-d", str(dsl))
        assert submitted["retcode"] == 0, submitted
        assert _wait_signed(server, submitted["jobId"]) == "success"
        # a model export (GET, its JSON body signed) and import (multipart, its form fields signed)
        model = {"role": "guest", "party_id": int(GUEST), "model_id": f"guest-{GUEST}#host-{HOST}#model",
                 "model_version": submitted["jobId"]}
        export = tmp_path / "export.json"
        export.write_text(json.dumps({**model, "output_path": str(tmp_path / "out")}))
        exported = flow_cli.run("model", "export", "-c", str(export))
        assert exported["retcode"] == 0, exported
        imported = tmp_path / "import.json"
        imported.write_text(json.dumps({**model, "file": exported["file"], "force_update": True}))
        answer = flow_cli.run("model", "import", "-c", str(imported))
        assert answer["retcode"] == 0, answer
    finally:
        flow_cli.run("init", "--reset")
    jobs_before = len(_all_jobs(server))

    # a signature over an empty body (what an upload signs), sent with a job as a "multipart" body
    submit = json.dumps({"job_dsl": json.loads(dsl.read_text()), "job_runtime_conf": json.loads(conf.read_text())})
    headers = _fate_client_signature("secret1", "app1", "/v1/job/submit", b"")
    answer = requests.post(server.url + "/v1/job/submit", data=submit, timeout=15,
                           headers={**headers, "Content-Type": "multipart/form-data; boundary=x"}).json()
    assert answer["retcode"] == 109 and "signature" in answer["retmsg"], answer
    # the same signature with the JSON content type, and a signature over another body
    headers = _fate_client_signature("secret1", "app1", "/v1/job/submit", b"")
    answer = requests.post(server.url + "/v1/job/submit", data=submit, timeout=15,
                           headers={**headers, "Content-Type": "application/json"}).json()
    assert answer["retcode"] == 109 and "signature" in answer["retmsg"]
    headers = _fate_client_signature("secret1", "app1", "/v1/job/submit", b'{"job_dsl": {}}')
    answer = requests.post(server.url + "/v1/job/submit", data=submit, timeout=15,
                           headers={**headers, "Content-Type": "application/json"}).json()
    assert answer["retcode"] == 109
    # an upload whose conf (in the query string) is not the one signed
    signed_query = quote(json.dumps({"namespace": "experiment", "table_name": "t1", "head": 1}))
    forged_query = quote(json.dumps({"namespace": "experiment", "table_name": "forged", "head": 1}))
    headers = _fate_client_signature("secret1", "app1", f"/v1/data/upload?{signed_query}", b"")
    with open(DATA / "breast_hetero_guest.csv", "rb") as stream:
        answer = requests.post(f"{server.url}/v1/data/upload?{forged_query}", headers=headers, timeout=15,
                               files={"file": ("x.csv", stream, "application/octet-stream")}).json()
    assert answer["retcode"] == 109
    assert len(_all_jobs(server)) == jobs_before
    assert not (server.home / "data" / "tables" / "experiment" / "forged").exists()
    # a model import whose form fields are not the ones signed (the signature of an upload: no form)
    headers = _fate_client_signature("secret1", "app1", "/v1/model/import", b"")
    answer = requests.post(f"{server.url}/v1/model/import", headers=headers, timeout=15, data={"force_update": 1},
                           files={"file": ("m.zip", b"PK")}).json()
    assert answer["retcode"] == 109, answer


def _signed_post(server: ServerProcess, path: str, body: dict) -> dict:
    data = json.dumps(body).encode()
    headers = _fate_client_signature("secret1", "app1", path, data if body else b"")
    return requests.post(server.url + path, data=data, timeout=15,
                         headers={**headers, "Content-Type": "application/json"}).json()


def _wait_signed(server: ServerProcess, job_id: str, timeout: float = 40) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        answer = _signed_post(server, "/v1/job/query", {"job_id": job_id})
        assert answer["retcode"] == 0, answer
        if answer["data"] and answer["data"][0]["f_status"] in ENDED:
            return answer["data"][0]["f_status"]
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not end")


def _all_jobs(server: ServerProcess) -> list[dict]:
    answer = _signed_post(server, "/v1/job/list/job", {})  # signed over b"" though "{}" is sent, as fate-client
    assert answer["retcode"] == 0, answer
    return answer["data"]["jobs"]


# ------------------------------------------------------------------------------------------ the local token


def _responses(server: ServerProcess, job_id: str, role: str, party_id: str) -> list[bytes]:
    """Every public API answer about the job at one party (tar members included)."""
    job, party = {"job_id": job_id}, {"job_id": job_id, "role": role, "party_id": party_id}
    bodies: list[bytes] = []

    def post(path: str, body: dict) -> bytes:
        content = requests.post(server.url + path, json=body, timeout=30).content
        bodies.append(content)
        return content

    for path in ("job/query", "job/config", "job/task/query", "job/list/task", "job/log/path"):
        post(f"/v1/{path}", job)
    post("/v1/job/list/job", {})
    post("/v1/tracking/job/data_view", party)
    post("/v1/pipeline/dag/dependency", party)
    post("/v1/tracking/component/list", job)
    for component in ("a", "b"):
        cpn = {**party, "component_name": component}
        for path in ("metrics", "metric/all", "parameters", "output/model", "output/data", "output/data/table",
                     "summary/download"):
            post(f"/v1/tracking/component/{path}", cpn)
        post("/v1/tracking/component/metric/all", {**cpn, "metric_namespace": "train", "metric_name": "loss"})
        for log_type in ("jobSchedule", "partyInfo", "partyDebug", "partyError", "componentInfo"):
            post("/v1/log/cat", {**cpn, "log_type": log_type, "instance_id": "x"})
        bodies.extend(_tar_members(post("/v1/tracking/component/output/data/download", cpn)))
    bodies.extend(_tar_members(post("/v1/job/log/download", job)))
    for path in ("server/fateflow/info", "version/get", "resource/query"):
        post(f"/v1/{path}", {})
    table = json.loads(post("/v1/tracking/component/output/data/table", {**party, "component_name": "b"}))["data"][0]
    out = server.home / "downloads" / f"{role}.csv"
    download = json.loads(post("/v1/data/download", {"namespace": table["table_namespace"],
                                                     "table_name": table["table_name"], "output_path": str(out)}))
    assert server.wait_job(download["jobId"])["f_status"] == "success"
    bodies.append(out.read_bytes())
    post("/v1/data/upload/history", {})
    return bodies


def _tar_members(content: bytes) -> list[bytes]:
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        return [tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()]


def test_the_local_token_and_private_key_never_leave_the_home(server_factory):
    parties = start_parties(server_factory, [GUEST, HOST])
    guest, host = parties[GUEST], parties[HOST]
    job_id = _submit(guest, CHAIN, _conf(ROLES, {"a": {"output_rows": 5, "metrics": True, "exchange_mb": 0.01},
                                                 "b": {"pass_through": True}}))
    assert guest.wait_job(job_id, ENDED, timeout=40)["f_status"] == "success"
    assert host.wait_job(job_id, ENDED, timeout=20)["f_status"] == "success"
    answers = _responses(guest, job_id, "guest", GUEST) + _responses(host, job_id, "host", HOST)
    answers.append(json.dumps(_signed_call(guest, GUEST, host, HOST,
                                           f"/v1/party/{job_id}/a/{job_id}_a/0/host/{HOST}/collect")).encode())
    answers.append(json.dumps(_signed_call(host, HOST, guest, GUEST,
                                           f"/v1/initiator/{job_id}/guest/{GUEST}/query")).encode())
    assert len(answers) > 60
    for server in (guest, host):
        token = (server.home / ".local_token").read_text().strip()
        configs = list((server.home / "jobs" / job_id).rglob("task_config.json"))
        assert configs and all(token in c.read_text() for c in configs)  # the secret is there, on disk
        key_lines = (server.home / "keys" / "site_ed25519.key").read_text().splitlines()[1:-1]
        for answer in answers:
            assert token.encode() not in answer
            assert all(line.encode() not in answer for line in key_lines)


def test_executor_paths_take_only_the_local_token(server_factory):
    parties = start_parties(server_factory, [GUEST, HOST])
    host = parties[HOST]
    for path in ("/v1/tracker/j/c/j_c/0/host/10000/summary/save", "/v1/mailbox/j/wait"):
        signed = _signed_call(parties[GUEST], GUEST, host, HOST, path, {"key": "k"})
        assert signed["retcode"] == 109 and "local token" in signed["retmsg"]
