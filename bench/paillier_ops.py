"""Paillier candidates side by side: operations per second on one core, at 1024 and 2048 bits.

    PYTHONPATH=. .venv/bin/python bench/paillier_ops.py [--quick]

Candidates: (a) python-paillier ``phe`` (on gmpy2), (b) FATE's Rust ``fate_utils`` (run in the
interpreter named by ``FATE_UTILS_PYTHON``, default /tmp/fuvenv_paillier/bin/python, pinned to one
thread; skipped when absent), (c) ours, ``fate_flow.ml.paillier``: encryption with Damgard-Jurik-Nielsen
obfuscators ``hs^a`` (full-length ``a``) from a Lim-Lee comb table, against (d) the textbook ``r^n``
obfuscation it replaced ("before"), and (e) the table shapes we measured to pick the memory budget.
Prints markdown tables; "X^T[[d]]" is the cost per matrix element of a hetero-LR gradient.

Figures are CPU time of this process (of the fate_utils child), not wall clock: single-threaded work
measured that way is the per-core cost even while other processes share the machine. The one wall-clock
figure (encryption with ``cores=1`` and ``cores=2``, forked workers) depends on what else runs: with Linux's
sched_autogroup all processes of one session share one slice of the CPUs, so on a loaded machine ``cores=2``
cannot beat ``cores=1`` in wall time; the load average is printed, and the CPU seconds of all processes show
what the fork costs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gmpy2
import numpy as np

from fate_flow.ml import paillier
from fate_flow.ml.paillier import (
    ENCRYPT_FRAC_BITS,
    EncryptedVector,
    ObfuscatorPool,
    PublicKey,
    generate_keypair,
    obfuscation,
)

FATE_UTILS_PYTHON = Path(os.environ.get("FATE_UTILS_PYTHON", "/tmp/fuvenv_paillier/bin/python"))
RNG = np.random.default_rng(7)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(func) -> float:
    """CPU seconds ``func`` takes (its process's, all threads)."""
    start = time.process_time()
    func()
    return time.process_time() - start


def wall_and_cpu(func) -> tuple[float, float]:
    """Wall-clock seconds ``func`` takes, and CPU seconds of this process and the workers it forked."""
    before, start = os.times(), time.perf_counter()
    func()
    seconds, after = time.perf_counter() - start, os.times()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))
    return seconds, cpu


# ------------------------------------------------------------------------------------------- (a) phe


def bench_phe(bits: int, count: int, rows: int) -> dict[str, float]:
    try:
        from phe import paillier as phe
    except ImportError:  # not a dependency: `pip install phe` into the venv to compare
        return {}

    pub, priv = phe.generate_paillier_keypair(n_length=bits)
    values = RNG.normal(size=count).tolist()
    out = {}
    start = time.process_time()
    encrypted = [pub.encrypt(v) for v in values]
    out["encrypt"] = rate(count, time.process_time() - start)
    out["add"] = rate(count, timed(lambda: [a + b for a, b in zip(encrypted, encrypted[::-1], strict=True)]))
    out["mul"] = rate(count, timed(lambda: [a * 0.3 for a in encrypted]))
    out["decrypt"] = rate(count, timed(lambda: [priv.decrypt(a) for a in encrypted]))
    column = RNG.normal(size=rows).tolist()
    residuals = (encrypted * (rows // count + 1))[:rows]
    out["matmul"] = rate(rows, timed(lambda: sum((r * x for r, x in zip(residuals, column, strict=True)),
                                                 pub.encrypt(0.0, r_value=1))))
    return out


# -------------------------------------------------------------------------------------- (b) fate_utils

FATE_UTILS_SCRIPT = r"""
import json, sys, time
import numpy as np
from fate_utils import paillier as P
bits, count, rows, features = map(int, sys.argv[1:5])
rng = np.random.default_rng(7)
sk, pk, coder = P.keygen(bits)
values = rng.normal(size=count)
plain = coder.encode_f64_vec(values)
def timed(f):
    t = time.process_time(); r = f(); return time.process_time() - t, r
out = {}
dt, ct = timed(lambda: pk.encrypt_encoded(plain, True)); out["encrypt"] = count / dt
dt, _ = timed(lambda: ct.add(pk, ct)); out["add"] = count / dt
dt, _ = timed(lambda: ct.mul_scalar(pk, coder.encode_f64(0.3))); out["mul"] = count / dt
dt, _ = timed(lambda: coder.decode_f64_vec(sk.decrypt_to_encoded(ct))); out["decrypt"] = count / dt
residuals = pk.encrypt_encoded(coder.encode_f64_vec(rng.normal(size=rows)), True)
x_t = coder.encode_f64_vec(rng.normal(size=(features, rows)).reshape(-1))
dt, _ = timed(lambda: residuals.rmatmul(pk, x_t, [rows, 1], [features, rows])); out["matmul"] = rows * features / dt
print(json.dumps(out))
"""


def bench_fate_utils(bits: int, count: int, rows: int, features: int) -> dict[str, float] | None:
    if not FATE_UTILS_PYTHON.exists():
        return None
    env = {**os.environ, "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(FATE_UTILS_PYTHON), "-c", FATE_UTILS_SCRIPT, str(bits), str(count), str(rows),
                           str(features)], capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        print(f"fate_utils failed: {done.stderr[-500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- (c) ours


def tiled(enc: EncryptedVector, size: int) -> EncryptedVector:
    """``size`` ciphertexts made of repeats of ``enc``'s: operation costs do not depend on the values."""
    return EncryptedVector(enc.public, (enc.ciphertexts * (size // len(enc) + 1))[:size], enc.exponent, enc.bound)


def with_large_table(pub: PublicKey, factors: tuple | None = None) -> None:
    """Build the key's large table now (a long-running job gets it after its first few thousand
    encryptions): the figures are then the steady state (``factors``: the key owner's CRT tables)."""
    state = obfuscation._obfuscation(pub, factors)
    if state._level < len(state.shapes):
        state.fixed = state._build(state.shapes[-1])
        state._level = len(state.shapes)


def bench_ours(bits: int, count: int, rows: int, features: int) -> dict[str, float]:
    pub, priv = generate_keypair(bits)
    values = RNG.normal(size=count)
    out = {}
    out["encrypt_cold"] = rate(count, timed(lambda: pub.encrypt(values)))
    with_large_table(pub)
    out["encrypt"] = rate(count, timed(lambda: pub.encrypt(values)))
    with_large_table(pub, (priv.p, priv.q))
    out["encrypt_owner"] = rate(count, timed(lambda: priv.encrypt(values)))
    owner = obfuscation._obfuscation(pub, (priv.p, priv.q))
    out["owner_method"] = type(owner.fixed).__name__
    if isinstance(owner.fixed, obfuscation._OwnersMultibuffer):  # crypto_mb here: the comb it replaced, for comparison
        multibuffer_state, owner.fixed = owner.fixed, owner._build(owner.shapes[-1])
        out["encrypt_owner_comb"] = rate(count, timed(lambda: priv.encrypt(values)))
        owner.fixed = multibuffer_state
    enc = pub.encrypt(values)
    out["rerandomize"] = rate(count, timed(lambda: enc.rerandomize()))
    out["encrypt_textbook"] = rate(count, timed(lambda: textbook_encrypt(pub, values)))
    many = RNG.normal(size=8 * count)
    for cores in (1, 2):
        seconds, cpu = wall_and_cpu(lambda cores=cores: pub.encrypt(many, cores=cores))
        out[f"encrypt_wall_{cores}"], out[f"encrypt_cpu_{cores}"] = rate(len(many), seconds), rate(len(many), cpu)
    other = pub.encrypt(values[::-1])
    big = tiled(enc, 20 * count)
    big_other = tiled(other, 20 * count)
    out["add"] = rate(len(big), timed(lambda: big + big_other))
    out["add_plain"] = rate(len(big), timed(lambda: big + np.ones(len(big))))
    out["mul"] = rate(count, timed(lambda: enc * 0.3))
    out["mul_vec"] = rate(count, timed(lambda: enc * RNG.normal(size=count)))
    out["decrypt"] = rate(count, timed(lambda: priv.decrypt(enc)))
    gradient = enc.ciphertexts[:20]  # what the arbiter decrypts for one party per hetero LR batch
    for cores in (1, 2):
        walls = [wall_and_cpu(lambda cores=cores: priv.decrypt_integers(gradient, cores))[0] for _ in range(5)]
        out[f"decrypt20_ms_{cores}"] = 1000 * sorted(walls)[2]
    with ObfuscatorPool(pub, capacity=count) as pool:  # its worker fills it at idle priority
        deadline = time.monotonic() + 120
        while pool.ready < min(count, pool.capacity) and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = max(1, min(count, pool.ready))
        out["encrypt_pool"] = rate(ready, timed(lambda: pub.encrypt(values[:ready], pool=pool)))
    residuals = tiled(enc, rows)
    x = RNG.normal(size=(rows, features))
    out["matmul"] = rate(rows * features, timed(lambda: residuals.rmatmul(x)))
    wire_size = 20 * count
    out["wire"] = rate(wire_size, timed(lambda: EncryptedVector.from_wire(pub, tiled(enc, wire_size).to_wire())))
    return out


# ------------------------------------------------------------------------------- (d) before: textbook r^n


def textbook_encrypt(pub: PublicKey, values: np.ndarray) -> list:
    """What ``encrypt`` did before DJN: ``(1 + m n) r^n mod n^2`` with a fresh uniform ``r`` each."""
    n, n2 = pub.n, pub.nsquare
    residues = gmpy2.powmod_base_list(pub.random_units(len(values)), n, n2)
    plain = [int(v) for v in np.rint(np.ldexp(values, ENCRYPT_FRAC_BITS)).tolist()]
    return [(m * n + 1) * r % n2 for m, r in zip(plain, residues, strict=True)]


# ---------------------------------------------------------------------------------- (e) table shapes

SHAPE_BUDGETS_MB = (5, 20, 80, 160)


def bench_shapes(bits: int, count: int) -> list[dict]:
    """Per table shape: memory, build time and obfuscators/s (CPU). The plain 8-bit windowed table first
    (the earlier helper's measurement), then the best comb within each memory budget."""
    pub, _ = generate_keypair(bits)
    state = obfuscation._obfuscation(pub)
    exponent_bits, entry = state.exponent_bits, pub.ciphertext_bytes
    shapes = [("windowed, 8-bit digits", (8, -(-exponent_bits // 8), 1))]
    shapes += [(f"comb within {mb} MB", obfuscation._comb_shape(exponent_bits, entry, mb << 20))
               for mb in SHAPE_BUDGETS_MB]
    out = []
    for label, shape in shapes:
        start = time.process_time()
        fixed = obfuscation._FixedBase(state.base, state.modulus, shape)
        build = time.process_time() - start
        out.append({"label": label, "shape": shape, "ops": fixed.operations,
                    "mb": obfuscation._comb_entries(shape) * (entry + obfuscation._TABLE_ENTRY_OVERHEAD) / 2**20,
                    "build": build, "rate": rate(count, timed(lambda fixed=fixed: fixed.random_powers(count)))})
        del fixed  # one table at a time
    direct = obfuscation._random_exponents(count // 4, exponent_bits)
    out.append({"label": "direct hs^a (no table)", "shape": None, "ops": None, "mb": 0.0, "build": 0.0,
                "rate": rate(len(direct), timed(lambda: gmpy2.powmod_exp_list(state.base, direct, state.modulus)))})
    return out


# -------------------------------------------------------------------------------------------------- main

ROWS = [
    ("encrypt", "encryptions/s"),
    ("encrypt_textbook", "encryptions/s, textbook r^n (ours before DJN)"),
    ("rerandomize", "rerandomizations/s"),
    ("add", "ciphertext additions/s"),
    ("add_plain", "ciphertext + plain/s"),
    ("mul", "scalar multiplications/s (x 0.3)"),
    ("mul_vec", "elementwise multiplications/s"),
    ("matmul", "X^T[[d]] elements/s"),
    ("decrypt", "decryptions/s"),
    ("wire", "ciphertexts/s to_wire + from_wire (validated)"),
]


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer operations (noisier figures)")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    print(f"# Paillier, operations per CPU-second on one core ({os.cpu_count()} cores here; "
          f"Python {sys.version.split()[0]}, gmpy2 {gmpy2.version()})\n")
    for bits, count, rows in ((1024, 2000, 20_000), (2048, 400, 20_000)):
        count = max(16, int(count * scale))
        rows = max(500, int(rows * scale))
        phe = bench_phe(bits, max(16, count // 4), 400)
        fate_utils = bench_fate_utils(bits, max(16, count // 8), 300, 4)
        ours = bench_ours(bits, count, rows, 4)
        shapes = bench_shapes(bits, max(16, count // 2))
        print(f"## {bits}-bit keys\n")
        print("| operation | phe (gmpy2) | fate_utils (Rust) | ours |")
        print("|---|---:|---:|---:|")
        for key, label in ROWS:
            theirs = fate_utils.get(key) if fate_utils else None
            print(f"| {label} | {fmt(phe.get(key))} | {fmt(theirs)} | {fmt(ours.get(key))} |")
        print()
        print(f"- encryption before (textbook r^n, {bits}-bit r): {fmt(ours['encrypt_textbook'])}/s; after (DJN, "
              f"{bits + paillier.OBFUSCATION_SLACK_BITS}-bit a, large table): {fmt(ours['encrypt'])}/s "
              f"(x{ours['encrypt'] / ours['encrypt_textbook']:.1f}); rerandomize {fmt(ours['rerandomize'])}/s")
        print(f"- first {count} encryptions of a fresh key (direct hs^a, then the small table built): "
              f"{fmt(ours['encrypt_cold'])}/s; the key owner's encrypt (the same hs^a by CRT over p^2 and q^2, by "
              f"{ours['owner_method']}): {fmt(ours['encrypt_owner'])}/s "
              f"(x{ours['encrypt_owner'] / ours['encrypt']:.1f})"
              + (f"; with its comb tables instead of crypto_mb {fmt(ours['encrypt_owner_comb'])}/s"
                 if "encrypt_owner_comb" in ours else ""))
        print(f"- wall clock, {8 * count} encryptions: cores=1 {fmt(ours['encrypt_wall_1'])}/s, cores=2 "
              f"{fmt(ours['encrypt_wall_2'])}/s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); "
              f"per CPU-second of all processes: {fmt(ours['encrypt_cpu_1'])} and {fmt(ours['encrypt_cpu_2'])}")
        print(f"- with an ObfuscatorPool that has them ready (its worker walks the table in another process): "
              f"encrypt {fmt(ours['encrypt_pool'])}/s in the calling process; decrypting 20 values (one hetero "
              f"LR gradient) takes {ours['decrypt20_ms_1']:.1f} ms with cores=1, {ours['decrypt20_ms_2']:.1f} ms "
              f"with cores=2 (wall clock, p and q halves in two threads; load average {os.getloadavg()[0]:.1f})")
        print(f"- ours, X^T[[d]] measured on {rows:,} rows x 4 features (bucket method: cheaper per element "
              f"as rows grow); phe on 400 rows (one exponentiation per element), fate_utils on 300 x 4")
        print()
        print(f"Obfuscator tables at {bits} bits ({bits + paillier.OBFUSCATION_SLACK_BITS}-bit exponents; ours: "
              f"comb within {paillier.OBFUSCATION_TABLE_BYTES >> 22} MB first, "
              f"{paillier.OBFUSCATION_TABLE_BYTES >> 20} MB once it pays):\n")
        print("| table | (width, rows, steps) | mults+squarings | MB | build s | obfuscators/s |")
        print("|---|---|---:|---:|---:|---:|")
        for row in shapes:
            print(f"| {row['label']} | {row['shape'] or '-'} | {row['ops'] or '-'} | {row['mb']:.0f} | "
                  f"{row['build']:.2f} | {fmt(row['rate'])} |")
        print()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
