"""Federation (d): a 100 MB float64 numpy array between two parties through the data plane.

Job: one ``TestModule`` component with ``exchange_mb: 100`` run by guest 9999 and host 10000 on two servers
(control calls over http; the data plane is the gRPC push into the receiving server's mailbox). The guest
remotes the array to the host and gets back the host's sum; both record data_plane/transfer
[["bytes", n], ["seconds", s]], read here through POST /v1/tracking/component/metric_data.
  guest MB/s  = MB / guest's seconds (remote of 100 MB + the host's reply; the main figure)
  host MB/s   = MB / host's seconds (its get + reply; includes waiting for the guest to begin)
  job MB/s    = MB / job wall time (submit -> success on both: scheduling, 2 executors, the exchange)
MB = 2**20 bytes. In-process figure (--raw): two Federation objects, a real gRPC push server and the mailbox
HTTP endpoint in this process, as tests/integration/test_data_plane.py does: remote() then get() + reading
every byte (codec + transfer + mailbox file, no scheduler).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import fedlib
from benchlib import save_result, summary

TARGET_MB_S = 100.0
MB = 100


def metric(party: fedlib.Party, job_id: str, role: str) -> dict:
    reply = party.post("/v1/tracking/component/metric_data", {
        "job_id": job_id, "role": role, "party_id": int(party.party_id), "component_name": "exchange_0",
        "metric_namespace": "data_plane", "metric_name": "transfer"})
    points = reply.get("data") or []
    return {str(k): float(v) for k, v in points}


def run_once(parties: dict[str, fedlib.Party], megabytes: float) -> dict:
    dsl = {"components": {"exchange_0": {"module": "TestModule"}}}
    conf = fedlib.two_party_conf(["exchange_0"], params={"exchange_mb": megabytes})
    t0 = time.perf_counter()
    job_id = fedlib.submit(parties[fedlib.GUEST], dsl, conf)
    final = fedlib.wait_all(parties, job_id, rows_expected=2)
    wall = time.perf_counter() - t0
    if final != "success":
        raise RuntimeError(f"exchange job {job_id} ended {final}")
    guest = metric(parties[fedlib.GUEST], job_id, "guest")
    host = metric(parties[fedlib.HOST], job_id, "host")
    mib = guest["bytes"] / 2**20
    tasks = fedlib.all_tasks(parties, job_id)
    return {"job_id": job_id, "bytes": guest["bytes"], "wall_s": wall, "guest_s": guest["seconds"],
            "host_s": host["seconds"], "guest_mb_s": mib / guest["seconds"], "host_mb_s": mib / host["seconds"],
            "job_mb_s": mib / wall,
            "component_ms": {t["f_role"]: t["f_component_elapsed"] for t in tasks},
            "executor_ms": {t["f_role"]: t["f_elapsed"] - (t["f_component_elapsed"] or 0) for t in tasks}}


def raw(megabytes: float, runs: int) -> dict:
    """The codec + gRPC push + mailbox in this process (no scheduler, no executor start)."""
    from concurrent import futures

    import grpc
    import numpy as np
    from flask import Flask
    from werkzeug.serving import make_server

    from fate_flow.apps.mailbox_app import mailbox_app
    from fate_flow.apps.util import RUNTIME_KEY
    from fate_flow.engine.federation import Federation
    from fate_flow.federation import transfer
    from fate_flow.manager.mailbox import Mailbox
    from fate_flow.proto import proxy_pb2_grpc

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    job = "202406010000000000042"
    root = Path(tempfile.mkdtemp(prefix="ffbench-dataplane-"))
    mailbox = Mailbox(root / "mailbox")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=transfer.CHANNEL_OPTIONS)
    proxy_pb2_grpc.add_DataTransferServiceServicer_to_server(transfer.MailboxPushService(mailbox), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    app = Flask("dataplane-bench")
    app.extensions[RUNTIME_KEY] = SimpleNamespace(mailbox=mailbox)  # the only part of a Runtime mailbox_app uses
    app.register_blueprint(mailbox_app)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    routes = {fedlib.GUEST: f"127.0.0.1:{port}", fedlib.HOST: f"127.0.0.1:{port}"}
    url = f"http://127.0.0.1:{http.server_port}"
    arr = np.random.default_rng(0).random(int(megabytes * 2**20 / 8))
    out_runs = []
    try:
        for i in range(runs + 1):  # the first one warms the channel up
            guest = Federation(job, "guest", fedlib.GUEST, routes, url)
            host = Federation(job, "host", fedlib.HOST, routes, url)
            start = time.perf_counter()
            guest.remote(arr, "big", str(i), [("host", fedlib.HOST)])
            sent = time.perf_counter()
            (got,) = host.get("big", str(i), [("guest", fedlib.GUEST)], timeout=60)
            total = float(got.sum())
            done = time.perf_counter()
            if total != float(arr.sum()):
                raise RuntimeError("the array arrived different")
            if i:
                out_runs.append({"remote_s": sent - start, "get_read_s": done - sent,
                                 "mb_s": arr.nbytes / 2**20 / (done - start)})
            del got
    finally:
        http.shutdown()
        thread.join(5)
        server.stop(grace=1).wait(3)
        transfer.close_channels()
    return {"runs": out_runs, "mb_s": summary([r["mb_s"] for r in out_runs]),
            "remote_s": summary([r["remote_s"] for r in out_runs]),
            "get_read_s": summary([r["get_read_s"] for r in out_runs])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=float, default=MB)
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http")
    parser.add_argument("--no-raw", action="store_true", help="skip the in-process codec + transfer figure")
    args = parser.parse_args(argv)
    parties = fedlib.start_parties(args.protocol)
    try:
        runs = [run_once(parties, args.mb) for _ in range(args.runs)]
    finally:
        fedlib.stop_all(parties)
    keys = ("guest_mb_s", "host_mb_s", "job_mb_s", "wall_s", "guest_s", "host_s")
    payload: dict = {"megabytes": args.mb, "target_mb_s": TARGET_MB_S, "protocol": args.protocol,
                     **{key: summary([r[key] for r in runs]) for key in keys}, "runs": runs}
    print(f"data plane {args.mb:.0f} MB ({args.protocol} control): guest (send + reply) median "
          f"{payload['guest_mb_s']['median']:.0f} MB/s in {payload['guest_s']['median']:.2f} s (target >= "
          f"{TARGET_MB_S:.0f}); host median {payload['host_mb_s']['median']:.0f} MB/s; job wall median "
          f"{payload['wall_s']['median']:.2f} s = {payload['job_mb_s']['median']:.0f} MB/s (n={len(runs)})",
          file=sys.stderr)
    if not args.no_raw:
        payload["raw"] = r = raw(args.mb, args.runs)
        print(f"data plane in-process {args.mb:.0f} MB: median {r['mb_s']['median']:.0f} MB/s (remote "
              f"{r['remote_s']['median']:.2f} s + get/read {r['get_read_s']['median']:.2f} s)", file=sys.stderr)
    save_result("data_plane", payload)
    return payload


if __name__ == "__main__":
    main()
