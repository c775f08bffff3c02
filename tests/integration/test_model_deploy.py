"""Deploying models between real servers on loopback: a party's model is deployed only at the request of a
party of that model (signed), a refused deploy changes nothing in the store, and a deployed model of any
component is what its predict job loads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import requests

from fate_flow.federation.keys import load_private_key
from fate_flow.federation.signing import sign_site_ed25519
from tests.support import ServerProcess, start_parties

GUEST, HOST = "9999", "10000"
MODEL_DSL = {"components": {"m": {"module": "TestModule", "output": {"model": ["model"]}}}}


def _conf(roles: dict, params: dict, job_parameters: dict | None = None) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)}, "role": roles,
            "job_parameters": {"common": {"task_cores": 1, **(job_parameters or {})}},
            "component_parameters": {"common": params}}


def _run(server: ServerProcess, dsl: dict, conf: dict) -> str:
    answer = server.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    assert answer["retcode"] == 0, answer
    assert server.wait_job(answer["jobId"], timeout=60)["f_status"] == "success", answer["jobId"]
    return answer["jobId"]


def _signed_call(sender: ServerProcess, src: str, receiver: ServerProcess, dst: str, path: str, body: dict) -> dict:
    data = json.dumps(body).encode()
    key = load_private_key(sender.home / "keys" / "site_ed25519.key")
    headers = sign_site_ed25519(key, "POST", path, data, src, dst)
    return requests.post(receiver.url + path, data=data, timeout=15,
                         headers={"Content-Type": "application/json", **headers}).json()


def _store(server: ServerProcess) -> dict[str, str]:
    root = server.home / "model_local_cache"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_model_is_deployed_only_for_a_party_of_it(server_factory):
    parties = start_parties(server_factory, [GUEST, HOST])
    guest, host = parties[GUEST], parties[HOST]
    # a model of the guest alone: the host is no party of it
    job_id = _run(guest, MODEL_DSL, _conf({"guest": [int(GUEST)]}, {"m": {"metrics": True}}))
    model_id = f"guest-{GUEST}#model"
    before = _store(guest)
    assert any(name.endswith("variables/m/model/param.json") for name in before), before
    body = {"model_id": model_id, "model_version": job_id, "inference_dsl": {"components": {}}}
    answer = _signed_call(host, HOST, guest, GUEST, f"/v1/party/20990101000000000001/guest/{GUEST}/model/deploy",
                          body)
    assert answer["retcode"] == 108 and "party 10000 is not a party of model" in answer["retmsg"], answer
    unknown = {**body, "model_version": "20000101000000000000"}
    answer = _signed_call(host, HOST, guest, GUEST, f"/v1/party/20990101000000000001/guest/{GUEST}/model/deploy",
                          unknown)
    assert answer["retcode"] == 102 and "not on this server" in answer["retmsg"], answer
    assert _store(guest) == before
    assert guest.post("/v1/model/query", {"model_version": "20990101000000000001"})["retcode"] == 100

    # its own party deploys it (the client API), and a predict job's component loads exactly that model
    deployed = guest.post("/v1/model/deploy", {"model_id": model_id, "model_version": job_id, "cpn_list": ["m"]})
    assert deployed["retcode"] == 0 and deployed["data"]["guest"] == {GUEST: 0}, deployed
    # the train conf's parameters come with the model; the predict conf's override them (no new metrics here)
    predict = _run(guest, {"components": {}}, _conf({"guest": [int(GUEST)]}, {"m": {"metrics": False}}, {
        "job_type": "predict", "model_id": model_id, "model_version": deployed["data"]["model_version"]}))
    loaded = guest.post("/v1/tracking/component/summary/download", {
        "job_id": predict, "component_name": "m", "role": "guest", "party_id": GUEST})["data"]["loaded_model"]
    assert loaded["param"] == {"weight": [0.1, 0.2], "intercept": 0.3} and loaded["module"] == "TestModule"


def test_a_shared_model_is_deployed_at_every_party(server_factory, tmp_path: Path):
    parties = start_parties(server_factory, [GUEST, HOST])
    guest, host = parties[GUEST], parties[HOST]
    roles = {"guest": [int(GUEST)], "host": [int(HOST)]}
    job_id = _run(guest, MODEL_DSL, _conf(roles, {"m": {"metrics": True}}))
    model_id = f"guest-{GUEST}#host-{HOST}#model"
    deployed = guest.post("/v1/model/deploy", {"model_id": model_id, "model_version": job_id})
    assert deployed["retcode"] == 0, deployed
    child = deployed["data"]["model_version"]
    assert deployed["data"]["detail"] == {"guest": {GUEST: {"retcode": 0, "retmsg": "success"}},
                                          "host": {HOST: {"retcode": 0, "retmsg": "success"}}}
    rows = host.post("/v1/model/query", {"model_id": model_id, "model_version": child})["data"]
    assert [(r["role"], r["party_id"], r["parent"]) for r in rows] == [("host", HOST, False)]
    predict = _run(guest, {"components": {}}, _conf(roles, {"m": {"metrics": False}}, {
        "job_type": "predict", "model_id": model_id, "model_version": child}))
    assert host.wait_job(predict, timeout=30)["f_status"] == "success"
    loaded = host.post("/v1/tracking/component/summary/download", {
        "job_id": predict, "component_name": "m", "role": "host", "party_id": HOST})["data"]["loaded_model"]
    assert loaded["param"]["intercept"] == 0.3


def test_a_partner_cannot_overwrite_or_misuse_a_model(server_factory):
    parties = start_parties(server_factory, [GUEST, HOST, "10001"])
    guest, host = parties[GUEST], parties[HOST]
    roles = {"guest": [int(GUEST)], "host": [int(HOST)]}
    job_id = _run(guest, MODEL_DSL, _conf(roles, {"m": {"metrics": True}}))
    model_id = f"guest-{GUEST}#host-{HOST}#model"

    def version_files(server: ServerProcess, version: str) -> dict[str, str]:
        return {name: digest for name, digest in _store(server).items() if f"/{version}/" in name}
    before = version_files(guest, job_id)
    assert before

    def as_host(path: str, body: dict) -> dict:
        return _signed_call(host, HOST, guest, GUEST, path, body)
    # a deploy whose "child" is the trained version itself, or an existing one
    inference = {"components": {"m": {"module": "TestModule", "input": {"model": ["pipeline.m.model"]}}}}
    body = {"model_id": model_id, "model_version": job_id, "inference_dsl": inference}
    answer = as_host(f"/v1/party/{job_id}/guest/{GUEST}/model/deploy", body)
    assert answer["retcode"] == 103 and "exists already" in answer["retmsg"], answer
    # a migrate naming other parties than the model's, or landing on an existing version
    migrate = {"model_id": model_id, "model_version": job_id, "role": {"guest": [GUEST], "host": ["10001"]},
               "migrate_role": {"guest": ["1"], "host": ["2"]}, "migrate_initiator": {"role": "guest", "party_id": 1}}
    answer = as_host(f"/v1/party/20990101000000000002/guest/{GUEST}/model/migrate", migrate)
    assert answer["retcode"] == 101 and "is not the parties of model" in answer["retmsg"], answer
    onto = {**migrate, "role": {"guest": [GUEST], "host": [HOST]}, "migrate_role": {"guest": [GUEST], "host": [HOST]}}
    answer = as_host(f"/v1/party/{job_id}/guest/{GUEST}/model/migrate", onto)
    assert answer["retcode"] == 103 and "exists already" in answer["retmsg"], answer
    # a training job that names an existing model version gets its own (FATE: the job id)
    again = _run(guest, MODEL_DSL, _conf(roles, {"m": {"metrics": True}}, {"model_id": "x#model",
                                                                          "model_version": job_id}))
    assert guest.post("/v1/model/query", {"model_version": again, "role": "guest"})["data"][0]["model_id"] == model_id
    assert version_files(guest, job_id) == before
    # a predict job with a party the model was not trained with is refused at the parties
    child = guest.post("/v1/model/deploy", {"model_id": model_id, "model_version": job_id})["data"]["model_version"]
    stranger = {"guest": [int(GUEST)], "host": [10001]}
    answer = guest.post("/v1/job/submit", {"job_dsl": {"components": {}}, "job_runtime_conf": _conf(stranger, {}, {
        "job_type": "predict", "model_id": model_id, "model_version": child})})
    assert answer["retcode"] != 0 and "was not trained with host 10001" in answer["retmsg"], answer
