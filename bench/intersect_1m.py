"""PSI benchmark: ecdh and rsa intersection of N ids per party (90 % overlap), both parties' crypto in this
process (the protocol functions, each party's heavy work over ``--cores`` worker processes), and
optionally the job end to end on a standalone server (``--job``).

    PYTHONPATH=/work/main .venv/bin/python bench/intersect_1m.py                     # ecdh + rsa, 1,000,000 ids
    PYTHONPATH=/work/main .venv/bin/python bench/intersect_1m.py --ids 100000 --methods rsa
    PYTHONPATH=/work/main .venv/bin/python bench/intersect_1m.py --ids 1000000 --methods ecdh --job
    FLOW_MULTIBUFFER=0 PYTHONPATH=/work/main .venv/bin/python bench/intersect_1m.py   # without Intel's crypto_mb

Besides the wall time it prints the cost of one elementary operation on one core (an X25519 scalar
multiplication; an RSA CRT signature) and what the protocol needs of them, so the figure can be read
against the machine: ecdh does 4 scalar multiplications per id pair (2 per party), rsa 2 private-key
operations per id pair (all at the key holder).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fate_flow.components.intersection import IntersectParams
from fate_flow.components.intersection.loopback import Hub, run_parties


def id_sets(count: int, overlap: float) -> tuple[np.ndarray, np.ndarray]:
    """Guest and host ids: ``count`` each, ``overlap`` of them shared."""
    shift = round(count * (1 - overlap))
    guest = np.array([f"{i:012d}" for i in range(count)])
    host = np.array([f"{i:012d}" for i in range(shift, count + shift)])
    return guest, host


def per_op_costs(rsa_bits: int) -> dict[str, float]:
    """Microseconds of one X25519 multiplication and one RSA CRT signature on one core, as the kernels do them
    (Intel's crypto_mb where it runs), and as OpenSSL / gmpy2 do them one at a time (``FLOW_MULTIBUFFER=0``)."""
    from fate_flow.components.intersection.ciphers import X25519Cipher, _x25519_reencrypt
    from fate_flow.components.intersection.hashing import int_rows
    from fate_flow.components.intersection.rsa import PrivateKey, _sign_rows
    from fate_flow.ml import multibuffer

    cipher, key = X25519Cipher("sha256", ""), PrivateKey.generate(rsa_bits)
    points = np.frombuffer(os.urandom(32 * 4000), dtype=np.uint8).reshape(-1, 32).copy()
    points[:, 31] &= 0x7F
    values = int_rows([int.from_bytes(os.urandom(32), "big") for _ in range(800)], key.public.width)
    costs, chosen = {}, os.environ.get("FLOW_MULTIBUFFER")
    for backend, switch in (("", "1"), ("_one_at_a_time", "0")):
        os.environ["FLOW_MULTIBUFFER"] = switch
        multibuffer.library.cache_clear()
        start = time.perf_counter()
        _x25519_reencrypt((cipher._scalar, points))
        costs["x25519_us" + backend] = (time.perf_counter() - start) / len(points) * 1e6
        start = time.perf_counter()
        _sign_rows((key.crt, key.public.n, values))
        costs["rsa_sign_us" + backend] = (time.perf_counter() - start) / len(values) * 1e6
    os.environ.pop("FLOW_MULTIBUFFER")
    if chosen is not None:  # the run's own choice (FLOW_MULTIBUFFER=0: the protocol without crypto_mb)
        os.environ["FLOW_MULTIBUFFER"] = chosen
    multibuffer.library.cache_clear()
    costs["crypto_mb"] = multibuffer.library() is not None
    return costs


def protocol(method: str, count: int, overlap: float, cores: int, rsa_bits: int) -> dict:
    """One run of the protocol functions, every party in this process."""
    guest, host = id_sets(count, overlap)
    conf = {"intersect_method": method, "rsa_params": {"key_length": rsa_bits}}
    params = IntersectParams.parse("Intersection", conf)
    start = time.perf_counter()
    guest_side, [host_side], hub = run_parties(params, guest, [host], cores=cores, hub=Hub(timeout=7200))
    seconds = time.perf_counter() - start
    expected = count - round(count * (1 - overlap))
    assert guest_side.count == host_side.count == expected, (guest_side.count, host_side.count, expected)
    return {"method": method, "ids": count, "seconds": seconds, "intersected": guest_side.count,
            "megabytes": sum(len(m.data) for m in hub.messages) / 1e6}


def job(method: str, count: int, overlap: float, cores: int, rsa_bits: int) -> dict:
    """The job end to end on a standalone server: upload both tables, then Reader -> Intersection."""
    from tests.jobs import job_conf, reader_params, run_job, summary, upload
    from tests.support import ServerProcess

    guest, host = id_sets(count, overlap)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for name, ids in (("psi_guest", guest), ("psi_host", host)):
            (home / f"{name}.csv").write_text("id,x0\n" + "".join(f"{i},1\n" for i in ids))
        server = ServerProcess(home / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite", "FATE_FLOW_PARTY_ID": "9999"})
        server.start()
        try:
            start = time.perf_counter()
            upload(server, home / "psi_guest.csv", "psi_guest")
            upload(server, home / "psi_host.csv", "psi_host")
            uploaded = time.perf_counter() - start
            dsl = {"components": {
                "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
                "intersect_0": {"module": "Intersection", "input": {"data": {"data": ["reader_0.data"]}},
                                "output": {"data": ["data"]}}}}
            conf = job_conf("9999", ["10000"], None, {"intersect_0": {"intersect_method": method,
                                                                      "rsa_params": {"key_length": rsa_bits},
                                                                      "only_output_key": True}},
                            reader_params("psi_guest", ["psi_host"]), {"task_cores": cores})
            start = time.perf_counter()
            job_id, status = run_job(server, dsl, conf, timeout=7200)
            seconds = time.perf_counter() - start
            found = summary(server, job_id, "intersect_0", "guest", "9999").get("intersect_num")
        finally:
            server.stop()
    return {"method": method, "ids": count, "status": status, "seconds": seconds, "intersected": found,
            "upload_seconds": uploaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--overlap", type=float, default=0.9)
    parser.add_argument("--methods", default="ecdh,rsa")
    parser.add_argument("--cores", type=int, default=2, help="worker processes per party")
    parser.add_argument("--rsa-bits", type=int, default=2048)
    parser.add_argument("--job", action="store_true", help="also run the job end to end on a standalone server")
    args = parser.parse_args()
    costs = per_op_costs(args.rsa_bits)
    print(f"one core ({'crypto_mb, eight at a time' if costs['crypto_mb'] else 'crypto_mb off'}): X25519 "
          f"multiplication {costs['x25519_us']:.1f} us, RSA-{args.rsa_bits} CRT signature {costs['rsa_sign_us']:.0f} "
          f"us; one at a time (OpenSSL, gmpy2): {costs['x25519_us_one_at_a_time']:.1f} us, "
          f"{costs['rsa_sign_us_one_at_a_time']:.0f} us; machine: {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    for method in args.methods.split(","):
        ops = 4 * args.ids if method == "ecdh" else 2 * args.ids
        suffix = "" if costs["crypto_mb"] else "_one_at_a_time"  # what this run's kernels use
        op_us = costs[("x25519_us" if method == "ecdh" else "rsa_sign_us") + suffix]
        floor = ops * op_us / 1e6 / args.cores
        result = protocol(method, args.ids, args.overlap, args.cores, args.rsa_bits)
        print(f"{method}: {result['ids']:,} ids per party, {result['intersected']:,} intersected: "
              f"{result['seconds']:.1f} s (protocol functions, {args.cores} cores per party); "
              f"{result['megabytes']:.0f} MB exchanged; crypto floor {ops:,} ops x {op_us:.0f} us / {args.cores} "
              f"cores = {floor:.0f} s")
        if args.job:
            result = job(method, args.ids, args.overlap, args.cores, args.rsa_bits)
            print(f"{method} job: {result['status']} in {result['seconds']:.1f} s submit -> end "
                  f"({result['intersected']} intersected; uploads {result['upload_seconds']:.1f} s)")


if __name__ == "__main__":
    main()
