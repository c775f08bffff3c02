"""Hetero SecureBoost end to end on one standalone server (guest 9999, host 10000), as issue 11 measures it.

  breast   reader -> data transform -> intersection -> HeteroSecureBoost (5 trees, depth 3) -> evaluation,
           submit -> success, and the train AUC. Target: at most 15 s.
  credit   default_credit_hetero (30,000 rows): 20 trees of depth 4, no intersection in front (the tables hold
           the same ids): submit -> success and where the time goes (each party's "secureboost timings" log
           line). Target: at most 120 s.

  --goss   the same jobs with FATE's ``run_goss`` (each tree on the 20 % of rows of largest gradient and a
           random 10 % of the rest).

    PYTHONPATH=. .venv/bin/python bench/secureboost.py [--runs 3] [--key-length 2048] [--trees 20] [--skip-credit]
        [--goss]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from benchlib import RssSampler, cleanup, save_result, start_server
from hetero_lr import run, upload
from hetero_lr import timings as lr_timings

TIMINGS = re.compile(r"secureboost timings \((\w+)\): (.*)")
HISTOGRAMS = re.compile(r"secureboost histograms \((\w+)\): (.*)")


def timings(server, job_id: str) -> dict[str, str]:
    """Each party's "secureboost timings" line, and the host's histogram rows (summed, and summed whole)."""
    found = lr_timings(server, job_id, TIMINGS)
    found.update({f"{role} histograms": line for role, line in lr_timings(server, job_id, HISTOGRAMS).items()})
    return found


def _dsl(intersect: bool) -> dict:
    source = "intersection_0.data" if intersect else "data_transform_0.data"
    components = {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "hetero_secure_boost_0": {"module": "HeteroSecureBoost", "input": {"data": {"train_data": [source]}},
                                  "output": {"data": ["data"], "model": ["model"]}},
        "evaluation_0": {"module": "Evaluation", "input": {"data": {"data": ["hetero_secure_boost_0.data"]}},
                         "output": {"data": ["data"]}}}
    if intersect:
        components["intersection_0"] = {"module": "Intersection",
                                        "input": {"data": {"data": ["data_transform_0.data"]}},
                                        "output": {"data": ["data"]}}
    return {"components": components}


def _conf(guest: str, host: str, trees: int, depth: int, key_length: int, goss: bool) -> dict:
    sbt = {"num_trees": trees, "tree_param": {"max_depth": depth}, "encrypt_param": {"key_length": key_length}}
    if goss:
        sbt.update(run_goss=True, top_rate=0.2, other_rate=0.1)
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999},
            "role": {"guest": [9999], "host": [10000]},
            "job_parameters": {"common": {"task_cores": 2}},
            "component_parameters": {
                "common": {"hetero_secure_boost_0": sbt, "evaluation_0": {"eval_type": "binary"}},
                "role": {"guest": {"0": {"reader_0": {"table": {"name": guest, "namespace": "experiment"}},
                                         "data_transform_0": {"with_label": True}}},
                         "host": {"0": {"reader_0": {"table": {"name": host, "namespace": "experiment"}},
                                        "data_transform_0": {"with_label": False}}}}}}


def auc(server, job_id: str) -> float | None:
    answer = server.session.post(f"{server.url}/v1/tracking/component/summary/download",
                                 json={"job_id": job_id, "component_name": "evaluation_0", "role": "guest",
                                       "party_id": 9999}, timeout=30).json()
    for values in (answer.get("data") or {}).values():  # {"<model>": {"train": {"auc": ...}}}
        if isinstance(values, dict) and "auc" in values.get("train", {}):
            return values["train"]["auc"]
    return None


def breast(server, runs: int, key_length: int, goss: bool) -> dict:
    walls, peaks, last = [], [], None
    for _ in range(runs):
        with RssSampler(server.proc.pid, interval_s=0.05) as rss:
            wall, status, job_id = run(server, _dsl(True), _conf("breast_hetero_guest", "breast_hetero_host", 5, 3,
                                                                  key_length, goss))
        assert status == "success", job_id
        walls.append(wall)
        peaks.append(rss.peak_bytes / 2 ** 20)
        last = job_id
        print(f"  breast: {wall:.1f} s, peak RSS {peaks[-1]:.0f} MB ({job_id})", flush=True)
    return {"wall_s": walls, "median_s": statistics.median(walls), "peak_rss_mb": max(peaks),
            "train_auc": auc(server, last), "timings": timings(server, last), "key_length": key_length}


def credit(server, trees: int, key_length: int, goss: bool) -> dict:
    with RssSampler(server.proc.pid, interval_s=0.2) as rss:
        wall, status, job_id = run(server, _dsl(False), _conf("default_credit_hetero_guest",
                                                              "default_credit_hetero_host", trees, 4, key_length, goss))
    print(f"  credit: {wall:.1f} s {status}, peak RSS {rss.peak_bytes / 2 ** 20:.0f} MB ({job_id})", flush=True)
    return {"wall_s": wall, "status": status, "trees": trees, "key_length": key_length,
            "train_auc": auc(server, job_id), "peak_rss_mb": rss.peak_bytes / 2 ** 20,
            "timings": timings(server, job_id)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--key-length", type=int, default=2048)
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--skip-credit", action="store_true")
    parser.add_argument("--skip-breast", action="store_true")
    parser.add_argument("--goss", action="store_true")
    args = parser.parse_args()
    server = start_server(env={"FATE_FLOW_PARTY_ID": "9999"})
    try:
        for name in ("breast_hetero_guest", "breast_hetero_host", "default_credit_hetero_guest",
                     "default_credit_hetero_host"):
            upload(server, name)
        result = {}
        if not args.skip_breast:
            result["breast"] = breast(server, args.runs, args.key_length, args.goss)
        if not args.skip_credit:
            result["credit"] = credit(server, args.trees, args.key_length, args.goss)
    finally:
        cleanup(server)
    result["goss"] = args.goss
    print(json.dumps(result, indent=2))
    save_result("secureboost-goss" if args.goss else "secureboost", result)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
