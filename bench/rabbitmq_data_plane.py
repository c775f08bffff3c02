"""A 100 MB float64 array from guest to host in this process: over RabbitMQ (two ``RabbitMQFederation``
executors, the broker at 127.0.0.1:5672, HMAC-signed, persistent confirmed messages of ``--message-mb``)
against the gRPC push + mailbox of ``data_plane.raw`` (the default data plane), each remote() then get()
and a read of every byte. MB = 2**20 bytes.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

import numpy as np
from benchlib import save_result, summary
from data_plane import raw as grpc_raw

from fate_flow.engine.federation import PushKeys
from fate_flow.engine.rabbitmq import RabbitMQFederation, SignatureCheck
from fate_flow.entity.task_config import BrokerAddress, PushSigning, RabbitMQConfig
from fate_flow.manager.broker import delete_queues, job_queues
from fate_flow.settings import Broker, RabbitMQSettings

GUEST, HOST = ("guest", "9999"), ("host", "10000")
ROLES = {"guest": ["9999"], "host": ["10000"]}


def _party(job: str, me: tuple[str, str], config: RabbitMQConfig) -> RabbitMQFederation:
    peer = HOST[1] if me == GUEST else GUEST[1]
    signing = PushSigning(mode="hmac", hmac_keys={peer: "bench-secret"})
    return RabbitMQFederation(job, "exchange_0", me[0], me[1], f"{job}_exchange_0_0", ROLES, config,
                              PushKeys(signing, ""), SignatureCheck(signing, ""), send_timeout=120, get_timeout=120)


def rabbitmq(megabytes: float, runs: int, message_mb: float) -> dict:
    broker = BrokerAddress("127.0.0.1", 5672, "guest", "guest")
    config = RabbitMQConfig({"9999": broker, "10000": broker}, int(message_mb * 2**20), 8 << 30)
    arr = np.random.default_rng(0).random(int(megabytes * 2**20 / 8))
    job = f"bench{uuid.uuid4().hex[:10]}"
    guest, host = _party(job, GUEST, config), _party(job, HOST, config)
    out = []
    try:
        for i in range(runs + 1):  # the first one warms the connections up
            start = time.perf_counter()
            guest.remote(arr, "big", f"run.{i}", [HOST])
            sent = time.perf_counter()
            (got,) = host.get("big", f"run.{i}", [GUEST])
            if float(got.sum()) != float(arr.sum()):
                raise RuntimeError("the array arrived different")
            done = time.perf_counter()
            if i:
                out.append({"remote_s": sent - start, "get_read_s": done - sent,
                            "mb_s": arr.nbytes / 2**20 / (done - start)})
    finally:
        guest.close()
        host.close()
        own = Broker("127.0.0.1", 5672, "guest", "guest")
        delete_queues(RabbitMQSettings(own, None, "client", config.max_message_size, {}),
                      job_queues(job, ["exchange_0"], ROLES, [GUEST, HOST]))
    return {"message_mb": message_mb, "runs": out, "mb_s": summary([r["mb_s"] for r in out]),
            "remote_s": summary([r["remote_s"] for r in out]), "get_read_s": summary([r["get_read_s"] for r in out])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--message-mb", type=float, nargs="+", default=[1, 8])
    args = parser.parse_args(argv)
    payload: dict = {"megabytes": args.mb, "rabbitmq": [rabbitmq(args.mb, args.runs, m) for m in args.message_mb],
                     "grpc": grpc_raw(args.mb, args.runs)}
    for r in payload["rabbitmq"]:
        print(f"rabbitmq {args.mb:.0f} MB in {r['message_mb']:g} MB messages: median {r['mb_s']['median']:.0f} MB/s "
              f"(remote {r['remote_s']['median']:.2f} s + get {r['get_read_s']['median']:.2f} s)", file=sys.stderr)
    g = payload["grpc"]
    print(f"grpc     {args.mb:.0f} MB: median {g['mb_s']['median']:.0f} MB/s (remote {g['remote_s']['median']:.2f} s "
          f"+ get/read {g['get_read_s']['median']:.2f} s)", file=sys.stderr)
    save_result("rabbitmq_data_plane", payload)
    return payload


if __name__ == "__main__":
    main()
