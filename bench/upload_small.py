"""(b) Submit -> success latency of the 569-row upload of breast_hetero_guest.csv.

Two ways of submitting, both timed from the start of the submission until /v1/job/query (polled
every 20 ms) reports success:
  http: POST /v1/data/upload exactly as fate-client 1.11.3 sends it (flow_cli/commands/data.py:
        one multipart part ``file``, application/octet-stream; the conf as JSON text passed as
        ``params``, so requests puts the re-quoted JSON as the whole query string);
  cli:  the real ``flow data upload -c conf --drop`` command (includes its ~0.4 s interpreter start).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import DATA, FlowCli, Server, cleanup, save_result, start_server, summary

CSV = DATA / "breast_hetero_guest.csv"
TARGET_S = 1.0


def upload_conf() -> dict:
    """The upload conf a user would write for this file."""
    return {"file": str(CSV), "table_name": "breast_hetero_guest", "namespace": "bench", "head": 1,
            "partition": 8}


def submit_http(server: Server, conf_path: Path) -> str:
    """What ``flow data upload -c conf --drop`` sends: its conf plus the options it adds."""
    conf = {**json.loads(conf_path.read_text()), "conf_path": str(conf_path), "drop": 1, "verbose": 0}
    with CSV.open("rb") as fp:
        reply = server.session.post(
            f"{server.url}/v1/data/upload", params=json.dumps(conf),
            files={"file": (CSV.name, fp, "application/octet-stream")}, timeout=60,
        ).json()
    if reply.get("retcode") != 0:
        raise RuntimeError(f"upload refused: {reply}")
    return reply["jobId"]


def timed(server: Server, submit: Callable[[], str]) -> dict:
    """Time one submission until its job succeeds."""
    t0 = time.perf_counter()
    job_id = submit()
    t_submit = time.perf_counter() - t0
    final = server.wait_job(job_id)
    total = time.perf_counter() - t0
    if final != "success":
        raise RuntimeError(f"job {job_id} ended {final}")
    return {"job_id": job_id, "total_s": total, "submit_s": t_submit}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)

    server = start_server()
    cli = None
    try:
        cli = FlowCli(server.url)
        conf_path = cli.root / "upload_small.json"
        conf_path.write_text(json.dumps(upload_conf()))
        modes = {
            "http": lambda: submit_http(server, conf_path),
            "cli": lambda: cli.run("data", "upload", "-c", str(conf_path), "--drop")["jobId"],
        }
        timed(server, modes["http"])  # warm-up: first table, first executor
        runs: dict[str, list[dict]] = {mode: [] for mode in modes}
        for _ in range(args.runs):
            for mode, submit in modes.items():
                runs[mode].append(timed(server, submit))
    finally:
        if cli is not None:
            cli.close()
        cleanup(server)
    payload: dict = {"rows": 569, "server_start_to_http_s": server.start_to_http_s, "target_s": TARGET_S}
    for mode, mode_runs in runs.items():
        payload[mode] = {"total_s": summary([r["total_s"] for r in mode_runs]),
                         "submit_s": summary([r["submit_s"] for r in mode_runs]), "runs": mode_runs}
        total = payload[mode]["total_s"]
        print(f"{mode}: submit->success median {total['median']:.3f} s, p90 {total['p90']:.3f} s "
              f"(n={total['n']}; submit reply median {payload[mode]['submit_s']['median']:.3f} s)",
              file=sys.stderr)
    save_result("upload_small", payload)
    print(f"server start->HTTP {server.start_to_http_s:.2f} s", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
