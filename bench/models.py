"""Models on one standalone server (guest 9999, host and arbiter 10000), as issue 10 measures them.

The project's hetero LR example (examples/jobs/hetero_lr) trains once; then, each repeated ``--runs`` times:

  deploy    ``model/deploy`` of its five components, request -> answer (every party's child version written).
            Target: at most 100 ms.
  predict   the project's predict example on the deployed model, submit -> success. Target: at most 2 s.
  export    ``model/export`` of the guest's deployed hetero LR model, request -> whole archive received.
  import    ``model/import`` of that archive (multipart, ``force_update``), request -> answer. Targets: at most
            200 ms each.

    PYTHONPATH=. .venv/bin/python bench/models.py [--runs 20] [--key-length 1024]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchlib import cleanup, save_result, start_server
from hetero_lr import EXAMPLE, run, upload

MODEL_ID = "arbiter-10000#guest-9999#host-10000#model"
DEPLOYED = ["reader_0", "data_transform_0", "intersection_0", "hetero_lr_0", "evaluation_0"]


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    value = call()
    return 1000 * (time.perf_counter() - started), value


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--key-length", type=int, default=1024, help="of the training job (the model's size does "
                                                                     "not depend on it)")
    args = parser.parse_args()
    server = start_server(env={"FATE_FLOW_PARTY_ID": "9999"})
    post = server.session.post
    try:
        for name in ("breast_hetero_guest", "breast_hetero_host"):
            upload(server, name)
        dsl = json.loads((EXAMPLE / "hetero_lr_dsl.json").read_text())
        conf = json.loads((EXAMPLE / "hetero_lr_conf.json").read_text())
        conf["component_parameters"]["common"]["hetero_lr_0"]["encrypt_param"] = {"key_length": args.key_length}
        _, status, trained = run(server, dsl, conf)
        assert status == "success", trained
        deploy_ms, predict_s, export_ms, import_ms = [], [], [], []
        for _ in range(args.runs):
            ms, answer = timed(lambda: post(f"{server.url}/v1/model/deploy", json={
                "model_id": MODEL_ID, "model_version": trained, "cpn_list": DEPLOYED}, timeout=30).json())
            assert answer["retcode"] == 0, answer
            deploy_ms.append(ms)
        child = answer["data"]["model_version"]
        predict_conf = json.loads((EXAMPLE / "hetero_lr_predict_conf.json").read_text())
        predict_conf["job_parameters"]["common"]["model_version"] = child
        for _ in range(min(args.runs, 5)):
            seconds, status, job_id = run(server, {"components": {}}, predict_conf)
            assert status == "success", job_id
            predict_s.append(seconds)
        key = {"role": "guest", "party_id": 9999, "model_id": MODEL_ID, "model_version": child}
        for _ in range(args.runs):
            ms, response = timed(lambda: server.session.get(f"{server.url}/v1/model/export", json=key, timeout=30))
            assert response.status_code == 200, response.text
            export_ms.append(ms)
        archive = response.content
        for _ in range(args.runs):
            ms, answer = timed(lambda: post(f"{server.url}/v1/model/import", data={**key, "force_update": 1},
                                            files={"file": ("model.zip", archive)}, timeout=30).json())
            assert answer["retcode"] == 0, answer
            import_ms.append(ms)
        result = {"deploy_ms": summary(deploy_ms), "predict_s": summary(predict_s), "export_ms": summary(export_ms),
                  "import_ms": summary(import_ms), "archive_bytes": len(archive), "runs": args.runs}
    finally:
        cleanup(server)
    print(json.dumps(result, indent=2))
    save_result("models", result)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
