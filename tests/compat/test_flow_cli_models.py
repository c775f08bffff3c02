"""Every ``flow model``, ``flow tag`` and ``flow checkpoint`` command of fate-client 1.11.3 against a real
standalone server, on a model that a guest and a host trained: each answers, with what FATE's server answers
(FATE-Serving, checkpoints and KFServing are not here: those commands say so clearly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import FlowCLI, ServerProcess, database_env

pytestmark = pytest.mark.compat

GUEST, HOST = "9999", "10000"
MODEL_ID = f"guest-{GUEST}#host-{HOST}#model"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("cli-models") / "party"
    server = ServerProcess(home, {**database_env("sqlite"), "FATE_FLOW_PARTY_ID": GUEST}).start()
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)},
            "role": {"guest": [int(GUEST)], "host": [int(HOST)]}, "job_parameters": {"common": {"task_cores": 1}},
            "component_parameters": {"common": {"m": {"metrics": True}}}}
    dsl = {"components": {"m": {"module": "TestModule", "output": {"model": ["model"]}}}}
    answer = server.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    assert answer["retcode"] == 0, answer
    assert server.wait_job(answer["jobId"], timeout=60)["f_status"] == "success"
    flow = FlowCLI()
    flow.init(server)
    yield server, flow, answer["jobId"], home.parent
    server.stop()


def test_model_info_deploy_and_predict_documents(trained):
    server, flow, job_id, tmp = trained
    info = flow.run("model", "get-model-info", "--model-version", job_id, "-r", "guest", "-p", GUEST)
    assert info["retcode"] == 0 and info["data"][0]["model_id"] == MODEL_ID and info["data"][0]["create_date"]
    assert set(info["data"][0]) == {"create_date", "role", "party_id", "roles", "model_id", "model_version",
                                    "loaded_times", "size", "description", "parent", "parent_info"}
    deployed = flow.run("model", "deploy", "--model-id", MODEL_ID, "--model-version", job_id, "--cpn-list", "m")
    assert deployed["retcode"] == 0 and deployed["data"]["host"] == {HOST: 0}, deployed
    child = deployed["data"]["model_version"]
    checks = {"get-predict-dsl": lambda d: d["components"]["m"]["input"]["model"] == ["pipeline.m.model"],
              "get-predict-conf": lambda d: d["job_parameters"]["common"]["job_type"] == "predict"}
    for command, check in checks.items():
        out = tmp / command
        answer = flow.run("model", command, "--model-id", MODEL_ID, "--model-version", child, "-o", str(out))
        assert answer["retcode"] == 0, answer
        written = list(out.glob("*.json"))
        assert len(written) == 1 and check(json.loads(written[0].read_text())), answer
    missing = flow.run("model", "deploy", "--model-id", MODEL_ID, "--model-version", "20000101000000000000")
    assert missing["retcode"] == 404


def test_model_tags_and_tags(trained):
    _, flow, job_id, _ = trained
    assert flow.run("model", "tag-model", "-j", job_id, "-t", "champion")["retcode"] == 0
    again = flow.run("model", "tag-model", "-j", job_id, "-t", "champion")
    assert again["retcode"] != 0 and "already has tag" in again["retmsg"]
    listed = flow.run("model", "tag-list", "-j", job_id)
    assert listed["data"] == {"tags": [{"name": "champion", "description": None}], "count": 1}
    assert flow.run("tag", "create", "-t", "baseline", "-d", "first try")["retcode"] == 0
    assert flow.run("model", "tag-model", "-j", job_id, "-t", "baseline")["retcode"] == 0
    query = flow.run("tag", "query", "-t", "baseline", "--with-model")
    assert query["data"]["count"] == 2 and {m["role"] for m in query["data"]["models"]} == {"guest", "host"}
    assert flow.run("tag", "update", "-t", "baseline", "--new-tag-name", "old", "--new-tag-desc", "x")["retcode"] == 0
    tags = flow.run("tag", "list", "-l", "10")["data"]["tags"]
    assert {(t["name"], t["description"], t["model_count"]) for t in tags} == {("champion", None, 1), ("old", "x", 1)}
    assert flow.run("model", "tag-model", "-j", job_id, "-t", "champion", "--remove")["retcode"] == 0
    assert flow.run("tag", "delete", "-t", "old")["retcode"] == 0
    assert flow.run("model", "tag-list", "-j", job_id)["data"]["count"] == 0
    assert flow.run("tag", "delete", "-t", "old")["retcode"] != 0


def test_serving_checkpoints_and_kfserving_say_they_are_not_here(trained):
    server, flow, job_id, tmp = trained
    child = server.post("/v1/model/deploy", {"model_id": MODEL_ID, "model_version": job_id})["data"]["model_version"]
    loaded = flow.run("model", "load", "-j", child)
    assert loaded["retcode"] == 101 and loaded["data"]["guest"] == {GUEST: 100}, loaded
    assert "servings" in loaded["data"]["detail"]["guest"][GUEST]["retmsg"]
    not_deployed = flow.run("model", "load", "-j", job_id)
    assert "Only deployed models" in not_deployed["data"]["detail"]["guest"][GUEST]["retmsg"]
    conf = tmp / "bind.json"
    conf.write_text(json.dumps({"service_id": "s1", "initiator": {"role": "guest", "party_id": int(GUEST)},
                                "role": {"guest": [int(GUEST)], "host": [int(HOST)]},
                                "job_parameters": {"model_id": MODEL_ID, "model_version": child}}))
    bound = flow.run("model", "bind", "-c", str(conf))
    assert bound["retcode"] == 100 and "servings" in bound["retmsg"], bound
    keys = ["-r", "guest", "-p", GUEST, "--model-id", MODEL_ID, "--model-version", job_id, "-cpn", "m"]
    assert flow.run("checkpoint", "list", *keys)["data"] == []
    got = flow.run("checkpoint", "get", *keys, "--step-index", "0")
    assert got["retcode"] == 404 and got["retmsg"] == "The checkpoint was not found."
    homo = tmp / "homo.json"
    homo.write_text(json.dumps({"role": "guest", "party_id": int(GUEST), "model_id": MODEL_ID,
                                "model_version": job_id}))
    converted = flow.run("model", "homo-convert", "-c", str(homo))  # a TestModule model: nothing to convert
    assert converted["retcode"] == 100 and "can be converted" in converted["retmsg"], converted
    deploy = tmp / "homo_deploy.json"
    deploy.write_text(json.dumps({"service_id": "s", "role": "guest", "party_id": int(GUEST), "model_id": MODEL_ID,
                                  "model_version": job_id, "component_name": "m", "deployment_type": "kfserving",
                                  "deployment_parameters": {}}))
    deployed = flow.run("model", "homo-deploy", "-c", str(deploy))
    assert deployed["retcode"] == 100 and "KFServing" in deployed["retmsg"], deployed


def test_migrate_export_and_import_with_the_cli(trained):
    server, flow, job_id, tmp = trained
    conf = tmp / "migrate.json"
    conf.write_text(json.dumps({
        "job_parameters": {"federated_mode": "SINGLE"}, "migrate_initiator": {"role": "guest", "party_id": 99},
        "role": {"guest": [int(GUEST)], "host": [int(HOST)]}, "migrate_role": {"guest": [99], "host": [100]},
        "execute_party": {"guest": [int(GUEST)], "host": [int(HOST)]}, "model_id": MODEL_ID,
        "model_version": job_id}))
    migrated = flow.run("model", "migrate", "-c", str(conf))
    assert migrated["retcode"] == 0 and migrated["data"]["model_id"] == "guest-99#host-100#model", migrated
    export = tmp / "export.json"
    export.write_text(json.dumps({"role": "host", "party_id": 100, "model_id": "guest-99#host-100#model",
                                  "model_version": migrated["data"]["model_version"], "output_path": str(tmp / "out")}))
    exported = flow.run("model", "export", "-c", str(export))
    assert exported["retcode"] == 0 and Path(exported["file"]).stat().st_size > 0, exported
    imported = tmp / "import.json"
    imported.write_text(json.dumps({"role": "host", "party_id": 100, "model_id": "guest-99#host-100#model",
                                    "model_version": migrated["data"]["model_version"], "file": exported["file"],
                                    "force_update": True}))
    answer = flow.run("model", "import", "-c", str(imported))
    assert answer["retcode"] == 0 and answer["data"]["archive_sha256"], answer
