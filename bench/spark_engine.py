"""The Spark computing engine (issue 13) against the standalone one, real servers, submit -> success via HTTP.

  upload     an N-row x (id + 10 floats) CSV (``--rows``, generated once under bench/results/), partition 8,
             one server: standalone vs ``default_engines.computing: spark`` with master ``local[2]``.
  intersect  reader -> intersection (``intersect_method: ecdh``, only_output_key) of M ids per party
             (``--ids``), 90 % overlap, guest 9999 and host 10000 on two servers (direct gRPC between them):
             both standalone with task_cores 1 and 2, both on Spark local[1] (task_cores 1) and local[2]
             (task_cores 2). Tables uploaded before the clock starts.
  lr         reader -> data_transform -> intersection (raw) -> hetero_lr (Paillier 1024, max_iter 2, full
             batch) on R rows per party (``--lr-rows``; guest: y + 10 features, host: 10 features, the same
             ids), guest 9999, host and arbiter 10000: standalone vs Spark local[2], task_cores 2.

Every Spark task that touches a table starts its own Spark session (a JVM driver, ``local[N]`` inside it); its
start-up is read from the task's log ("Spark session on ... started in X s"). Per-component times are the
task rows' ``f_component_elapsed``. Raw results: bench/results/spark_engine.json (one key per measurement,
merged over invocations).

    PYTHONPATH=. .venv/bin/python bench/spark_engine.py --only upload --rows 10000000
    PYTHONPATH=. .venv/bin/python bench/spark_engine.py --only intersect --ids 200000
    PYTHONPATH=. .venv/bin/python bench/spark_engine.py --only lr --lr-rows 200000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from benchlib import RESULTS, RssSampler, cleanup, start_server  # noqa: E402
from fedlib import GUEST, HOST, Party, start_parties, stop_all  # noqa: E402
from upload_1m import generate_csv  # noqa: E402

SESSION = re.compile(r"Spark session on (\S+) with (\d+) cores started in ([\d.]+) s")
RESULT_FILE = RESULTS / "spark_engine.json"


def engine_env(engine: str, cores: int) -> dict[str, str]:
    """A server's environment for ``engine``: standalone, or Spark with master local[cores]."""
    if engine == "standalone":
        return {}
    return {"FATE_FLOW_DEFAULT_ENGINES__COMPUTING": "spark",
            "FATE_FLOW_FATE_ON_SPARK__SPARK__MASTER": f"local[{cores}]",
            "FATE_FLOW_FATE_ON_SPARK__SPARK__CORES_PER_NODE": "8",  # admission only; local[N] runs N
            "FATE_FLOW_FATE_ON_SPARK__SPARK__NODES": "1",
            "FATE_FLOW_FATE_ON_SPARK__SPARK__PROPERTIES": json.dumps({"spark.driver.memory": "3g"})}


def label(engine: str, cores: int) -> str:
    return "standalone" if engine == "standalone" else f"spark local[{cores}]"


def save(key: str, value: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULT_FILE.read_text()) if RESULT_FILE.is_file() else {}
    data[key] = value
    RESULT_FILE.write_text(json.dumps(data, indent=2) + "\n")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def session_starts(homes: list[Path], job_id: str) -> list[dict]:
    """Every "Spark session ... started in X s" line of the job's logs on these servers."""
    found = []
    for home in homes:
        # <role>/<party>/<component>/INFO.log: each task's own log (the party's INFO.log repeats its lines)
        for path in sorted((home / "logs" / job_id).glob("*/*/*/INFO.log")):
            for match in SESSION.finditer(path.read_text(errors="replace")):
                found.append({"log": str(path.relative_to(home / "logs" / job_id)), "master": match.group(1),
                              "cores": int(match.group(2)), "seconds": float(match.group(3))})
    return found


# ---------------------------------------------------------------------------------------------------- upload
def bench_upload(rows: int, runs: int) -> dict:
    t0 = time.perf_counter()
    csv_path = generate_csv(rows)
    log(f"upload data: {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB, ready in {time.perf_counter() - t0:.1f} s)")
    result = {"rows": rows, "bytes": csv_path.stat().st_size, "partition": 8}
    for engine, cores in (("standalone", 2), ("spark", 2)):
        server = start_server(env={"FATE_FLOW_PARTY_ID": GUEST, **engine_env(engine, cores)})
        walls, peaks, components, starts = [], [], [], []
        try:
            conf = {"file": str(csv_path), "table_name": "bench_upload", "namespace": "bench", "head": 1,
                    "partition": 8, "drop": 1}
            for i in range(runs):
                with RssSampler(server.proc.pid, interval_s=0.1) as rss, csv_path.open("rb") as stream:
                    started = time.perf_counter()
                    reply = server.session.post(f"{server.url}/v1/data/upload?{quote(json.dumps(conf))}",
                                                files={"file": (csv_path.name, stream, "application/octet-stream")},
                                                timeout=3600).json()
                    assert reply.get("retcode") == 0, reply
                    status = server.wait_job(reply["jobId"], timeout_s=3600)
                    wall = time.perf_counter() - started
                assert status == "success", (reply["jobId"], status)
                tasks = server.session.post(f"{server.url}/v1/job/task/query", json={"job_id": reply["jobId"]},
                                            timeout=30).json()["data"]
                component = sum((t.get("f_component_elapsed") or 0) for t in tasks) / 1000
                info = server.session.post(f"{server.url}/v1/table/table_info",
                                           json={"namespace": "bench", "table_name": "bench_upload"}, timeout=30).json()
                files = sorted(Path(info["data"]["address"]["path"]).glob("*.parquet"))
                walls.append(wall)
                peaks.append(rss.peak_bytes / 2**20)
                components.append(component)
                starts += session_starts([server.home], reply["jobId"])
                log(f"  upload {label(engine, cores)} run {i + 1}: {wall:.1f} s = {rows / wall:,.0f} rows/s, "
                    f"component {component:.1f} s, peak RSS {peaks[-1]:.0f} MB, parquet files {len(files)}")
        finally:
            cleanup(server)
        result[label(engine, cores)] = {"wall_s": walls, "median_s": statistics.median(walls),
                                        "rows_per_s": rows / statistics.median(walls),
                                        "component_s": components, "peak_rss_mb": peaks, "spark_sessions": starts}
    save(f"upload_{rows}", result)
    return result


def upload_table(party: Party, csv_path: Path, name: str, partition: int = 8) -> None:
    conf = {"namespace": "experiment", "table_name": name, "head": 1, "partition": partition, "drop": 1}
    with csv_path.open("rb") as stream:
        reply = party.session.post(f"{party.url}/v1/data/upload?{quote(json.dumps(conf))}",
                                   files={"file": (csv_path.name, stream, "application/octet-stream")},
                                   timeout=600).json()
    assert reply.get("retcode") == 0, reply
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        statuses = party.statuses(reply["jobId"])
        if statuses and statuses[0] in ("success", "failed", "canceled", "timeout"):
            assert statuses[0] == "success", (name, statuses)
            return
        time.sleep(0.1)
    raise TimeoutError(f"upload of {name} did not end")


def grant(parties: dict[str, Party], name: str) -> None:
    body = {"party_id": int(GUEST), "dataset": [{"namespace": "experiment", "name": name}]}
    reply = parties[HOST].post("/v1/permission/grant", body)
    assert reply.get("retcode") == 0, reply


def run_job(parties: dict[str, Party], dsl: dict, conf: dict, timeout_s: float = 7200) -> tuple[float, str, dict]:
    """Submit at the guest; wall time until every party's job row has ended; (wall, job id, component times)."""
    started = time.perf_counter()
    reply = parties[GUEST].post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf}, timeout=60)
    assert reply.get("retcode") == 0, reply
    job_id = reply["jobId"]
    deadline = time.monotonic() + timeout_s
    while True:
        states = {pid: party.statuses(job_id) for pid, party in parties.items()}
        if all(s and all(x in ("success", "failed", "canceled", "timeout") for x in s) for s in states.values()):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id}: {states}")
        time.sleep(0.05)
    wall = time.perf_counter() - started
    bad = [(pid, s) for pid, ss in states.items() for s in ss if s != "success"]
    components = {}
    for pid, party in parties.items():
        for task in party.tasks(job_id):
            if str(task["f_party_id"]) != pid:
                continue
            if bad and task["f_status"] != "success":
                log(f"    {pid} {task['f_role']} {task['f_component_name']} {task['f_status']}: "
                    f"{str(task.get('f_error_report'))[:800]}")
            key = f"{task['f_role']}:{task['f_component_name']}"
            components[key] = round((task.get("f_component_elapsed") or 0) / 1000, 2)
    assert not bad, (job_id, bad)
    return wall, job_id, components


def id_sets(count: int, overlap: float = 0.9) -> tuple[list[str], list[str]]:
    shift = round(count * (1 - overlap))
    return [f"{i:012d}" for i in range(count)], [f"{i:012d}" for i in range(shift, count + shift)]


# ------------------------------------------------------------------------------------------------ intersect
INTERSECT_DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "intersect_0": {"module": "Intersection", "input": {"data": {"data": ["reader_0.data"]}},
                    "output": {"data": ["data"]}}}}


def intersect_conf(cores: int) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)},
            "role": {"guest": [int(GUEST)], "host": [int(HOST)]},
            "job_parameters": {"common": {"task_cores": cores}},
            "component_parameters": {
                "common": {"intersect_0": {"intersect_method": "ecdh", "only_output_key": True,
                                           "ecdh_params": {"hash_method": "sha256"}}},
                "role": {"guest": {"0": {"reader_0": {"table": {"name": "psi_guest", "namespace": "experiment"}}}},
                         "host": {"0": {"reader_0": {"table": {"name": "psi_host", "namespace": "experiment"}}}}}}}


def measure_job(what: str, engine: str, cores: int, tables: dict[str, tuple[Path, str]], runs: int, dsl: dict,
                conf: dict, partition: int = 8) -> tuple[str, dict]:
    """Two fresh parties on ``engine``, each uploading its table (the host's granted to the guest), then ``runs``
    runs of the job: the result's key and its wall times, component times and Spark session starts."""
    parties = start_parties("grpc", env=engine_env(engine, cores))
    walls, components, starts = [], [], []
    try:
        for party_id, (csv_path, name) in tables.items():
            upload_table(parties[party_id], csv_path, name, partition=partition)
        grant(parties, tables[HOST][1])
        for i in range(runs):
            wall, job_id, comps = run_job(parties, dsl, conf)
            walls.append(wall)
            components.append(comps)
            starts += session_starts([p.home for p in parties.values()], job_id)
            log(f"  {what} {label(engine, cores)}, task_cores {cores}, run {i + 1}: {wall:.1f} s; {comps}")
    finally:
        stop_all(parties)
    return f"{label(engine, cores)} task_cores {cores}", {
        "engine": engine, "cores": cores, "wall_s": walls, "median_s": statistics.median(walls),
        "components": components, "spark_sessions": starts}


def x25519_us() -> float:
    from intersect_1m import per_op_costs

    return per_op_costs(1024)["x25519_us"]


def bench_intersect(ids: int, runs: int, configs: list[tuple[str, int]]) -> dict:
    data = RESULTS / f"psi_{ids}"
    data.mkdir(parents=True, exist_ok=True)
    guest_ids, host_ids = id_sets(ids)
    for name, values in (("psi_guest", guest_ids), ("psi_host", host_ids)):
        path = data / f"{name}.csv"
        if not path.is_file():
            path.write_text("id,x0\n" + "".join(f"{i},1\n" for i in values))
    op_us = x25519_us()
    expected = ids - round(ids * 0.1)
    log(f"intersect: {ids:,} ids per party, {expected:,} shared; X25519 {op_us:.1f} us/op on one core, "
        f"4 x {ids:,} ops = {4 * ids * op_us / 1e6:.0f} core-s")
    result = {"ids": ids, "overlap": 0.9, "x25519_us": op_us, "load_before": os.getloadavg()[0]}
    tables = {GUEST: (data / "psi_guest.csv", "psi_guest"), HOST: (data / "psi_host.csv", "psi_host")}
    for engine, cores in configs:
        key, measured = measure_job("intersect", engine, cores, tables, runs, INTERSECT_DSL, intersect_conf(cores))
        result[key] = measured
    save(f"intersect_{ids}", result)
    return result


# ------------------------------------------------------------------------------------------------------- lr
LR_DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}},
    "intersection_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                       "output": {"data": ["data"]}},
    "hetero_lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["intersection_0.data"]}},
                    "output": {"data": ["data"], "model": ["model"]}}}}


def lr_conf(cores: int, iterations: int) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)},
            "role": {"guest": [int(GUEST)], "host": [int(HOST)], "arbiter": [int(HOST)]},
            "job_parameters": {"common": {"task_cores": cores}},
            "component_parameters": {
                "common": {"intersection_0": {"intersect_method": "raw"},
                           "hetero_lr_0": {"penalty": "L2", "alpha": 0.01, "optimizer": "sgd", "learning_rate": 0.15,
                                           "max_iter": iterations, "batch_size": -1, "tol": 1e-12,
                                           "early_stop": "diff", "init_param": {"init_method": "zeros"},
                                           "encrypt_param": {"key_length": 1024}}},
                "role": {"guest": {"0": {"reader_0": {"table": {"name": "lr_guest", "namespace": "experiment"}},
                                         "data_transform_0": {"with_label": True, "label_name": "y",
                                                              "label_type": "int"}}},
                         "host": {"0": {"reader_0": {"table": {"name": "lr_host", "namespace": "experiment"}},
                                        "data_transform_0": {"with_label": False}}}}}}


def lr_tables(rows: int) -> tuple[Path, Path]:
    """Guest: id, y, x0..x9; host: id, x10..x19 (the same ids); y from a logistic model of all 20."""
    guest_path, host_path = RESULTS / f"lr_guest_{rows}.csv", RESULTS / f"lr_host_{rows}.csv"
    if guest_path.is_file() and host_path.is_file():
        return guest_path, host_path
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=(rows, 20)), 6)
    w = rng.normal(size=20) / 3
    y = (rng.random(rows) < 1 / (1 + np.exp(-(x @ w)))).astype(np.int64)
    ids = pa.array([f"{i:010d}" for i in range(rows)])
    guest = {"id": ids, "y": pa.array(y), **{f"x{j}": pa.array(x[:, j]) for j in range(10)}}
    host = {"id": ids, **{f"x{j}": pa.array(x[:, j]) for j in range(10, 20)}}
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    for path, columns in ((guest_path, guest), (host_path, host)):
        with path.open("wb") as out:  # an unquoted header, as FATE's CSVs have (pyarrow quotes its own)
            out.write((",".join(columns) + "\n").encode())
            pacsv.write_csv(pa.table(columns), out, write_options=options)
    return guest_path, host_path


def bench_lr(rows: int, runs: int, iterations: int, configs: list[tuple[str, int]]) -> dict:
    guest_csv, host_csv = lr_tables(rows)
    result = {"rows": rows, "iterations": iterations, "key_length": 1024, "load_before": os.getloadavg()[0]}
    tables = {GUEST: (guest_csv, "lr_guest"), HOST: (host_csv, "lr_host")}
    for engine, cores in configs:
        key, measured = measure_job("lr", engine, cores, tables, runs, LR_DSL, lr_conf(cores, iterations), partition=4)
        result[key] = measured
    save(f"lr_{rows}", result)
    return result


def parse_configs(text: str) -> list[tuple[str, int]]:
    """"standalone:1,spark:2" -> [("standalone", 1), ("spark", 2)]."""
    out = []
    for item in text.split(","):
        engine, _, cores = item.partition(":")
        assert engine in ("standalone", "spark"), item
        out.append((engine, int(cores or 2)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="upload: rows of the CSV")
    parser.add_argument("--ids", type=int, default=200_000, help="intersect: ids per party")
    parser.add_argument("--lr-rows", type=int, default=200_000, help="lr: rows per party")
    parser.add_argument("--lr-iterations", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=("upload", "intersect", "lr"), action="append",
                        help="run only this measurement (repeatable); default all three")
    parser.add_argument("--intersect-configs", default="standalone:1,standalone:2,spark:1,spark:2",
                        help="engine:cores pairs (spark:N = master local[N], task_cores N)")
    parser.add_argument("--lr-configs", default="standalone:2,spark:2")
    args = parser.parse_args()
    only = args.only or ["upload", "intersect", "lr"]
    free = shutil.disk_usage(RESULTS.parent).free / 1e9
    log(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, {free:.0f} GB free")
    out = {}
    if "upload" in only:
        out["upload"] = bench_upload(args.rows, args.runs)
    if "intersect" in only:
        out["intersect"] = bench_intersect(args.ids, args.runs, parse_configs(args.intersect_configs))
    if "lr" in only:
        out["lr"] = bench_lr(args.lr_rows, args.runs, args.lr_iterations, parse_configs(args.lr_configs))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
