"""`make demo`: two parties (guest 9999, host 10000) on loopback, each its own server on embedded
defaults (SQLite under demo-home/). Each party gets its signing key pair (``fate_flow keys init``) and
the other's public key in its route table, so every call and every object between them is signed.
Uploads breast_hetero_guest at the guest and breast_hetero_host at the host through the API, runs FATE's
toy job (SecureAddExample) and FATE's hetero LR example (reader -> data transform -> intersection ->
hetero LR -> evaluation, the host also the arbiter), prints what happened, and leaves both servers running.

    python demo/demo.py          # start (or reuse) the two servers and run the jobs
    python demo/demo.py --stop   # stop them
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / "demo-home"
DATA = REPO / "examples" / "data"
JOBS = REPO / "examples" / "jobs" / "hetero_lr"
PARTIES = {"guest": ("9999", 9380), "host": ("10000", 9390)}
ENDED = ("success", "failed", "canceled", "timeout")


def _conf(role: str) -> Path:
    return REPO / "demo" / "conf" / f"{role}_service_conf.yaml"


def ensure_keys(role: str) -> str:
    """The party's public key; its key pair is made the first time, as an operator makes it."""
    public = HOME / role / "keys" / "site_ed25519.key.pub"
    if not public.exists():
        made = subprocess.run([sys.executable, "-m", "fate_flow", "keys", "init", "--home", str(HOME / role),
                               "--config", str(_conf(role))], cwd=REPO, capture_output=True, text=True)
        if made.returncode != 0:
            sys.exit(f"fate_flow keys init failed for the {role}: {made.stderr.strip()}")
        print(f"{role} {PARTIES[role][0]}: " + made.stdout.strip().replace("\n", "\n    "))
    return public.read_text().strip()


def _partner_keys_env(keys: dict[str, str], role: str) -> dict[str, str]:
    """The other parties' public keys, added to this party's route table (demo/conf names their servers)."""
    return {f"FATE_FLOW_ROUTE_TABLE__{PARTIES[other][0]}__PUBLIC_KEY": key
            for other, key in keys.items() if other != role}


def _url(role: str) -> str:
    return f"http://127.0.0.1:{PARTIES[role][1]}"


def _pid_file(role: str) -> Path:
    return HOME / role / "server.pid"


def _running_pid(role: str) -> int | None:
    try:
        pid = int(_pid_file(role).read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _answers(role: str) -> bool:
    try:
        return requests.post(f"{_url(role)}/v1/version/get", json={}, timeout=1).json()["retcode"] == 0
    except (requests.RequestException, ValueError, KeyError):
        return False


def start_server(role: str, env: dict[str, str]) -> int:
    pid = _running_pid(role)
    if pid and _answers(role):
        print(f"{role} server already running (pid {pid})")
        return pid
    if _answers(role):
        sys.exit(f"another server already answers at {_url(role)}; stop it first")
    home = HOME / role
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.out", "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "fate_flow", "server", "--home", str(home), "--config",
                                    str(_conf(role))], cwd=REPO, env={**os.environ, **env},
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _pid_file(role).write_text(str(process.pid))
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"the {role} server exited; see {home / 'server.out'}")
        if _answers(role):
            print(f"{role} server {PARTIES[role][0]} started (pid {process.pid}) at {_url(role)}, home {home}")
            return process.pid
        time.sleep(0.1)
    sys.exit(f"the {role} server did not answer within 30 s")


def post(role: str, path: str, body: dict) -> dict:
    return requests.post(f"{_url(role)}/v1/{path}", json=body, timeout=60).json()


def wait(role: str, job_id: str) -> dict:
    started = time.time()
    while time.time() - started < 120:
        rows = post(role, "job/query", {"job_id": job_id})["data"]
        if rows and rows[0]["f_status"] in ENDED:
            return rows[0]
        time.sleep(0.05)
    sys.exit(f"job {job_id} did not finish in 120 s")


def upload(role: str, table: str) -> None:
    conf = {"file": str(DATA / f"{table}.csv"), "head": 1, "partition": 4, "namespace": "experiment",
            "table_name": table, "drop": 1}
    with (DATA / f"{table}.csv").open("rb") as stream:
        answer = requests.post(f"{_url(role)}/v1/data/upload?{quote(json.dumps(conf))}",
                               files={"file": (f"{table}.csv", stream, "application/octet-stream")},
                               timeout=60).json()
    if answer["retcode"] != 0:
        sys.exit(f"upload refused: {answer}")
    job = wait(role, answer["jobId"])
    info = post(role, "table/table_info", {"namespace": "experiment", "table_name": table})["data"]
    print(f"  {role}: upload job {answer['jobId']} {job['f_status']} in {job['f_elapsed']} ms -> "
          f"experiment.{table}: {info['count']} rows, header {info['schema'].get('header')}")


def grant_table(role: str, partner: str, table: str) -> None:
    """Let ``partner``'s jobs read ``table`` at this party (as ``flow privilege grant`` does)."""
    grant = {"party_id": int(partner), "dataset": [{"namespace": "experiment", "name": table}]}
    answer = post(role, "permission/grant", grant)
    if answer["retcode"] != 0:
        sys.exit(f"grant refused: {answer}")
    print(f"  {role} {PARTIES[role][0]}: party {partner} may read experiment.{table}")


def submit(dsl: dict, conf: dict, title: str) -> str:
    answer = post("guest", "job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    if answer["retcode"] != 0:
        sys.exit(f"{title} refused: {answer['retmsg']}")
    started = time.time()
    job = wait("guest", answer["jobId"])
    host = wait("host", answer["jobId"])
    print(f"  {title}: job {answer['jobId']} guest {job['f_status']}, host {host['f_status']} "
          f"({time.time() - started:.2f} s from submit)")
    return answer["jobId"]


def toy_job() -> None:
    dsl = {"components": {"secure_add_example_0": {"module": "SecureAddExample"}}}
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999},
            "role": {"guest": [9999], "host": [10000]}, "job_parameters": {"common": {"task_cores": 2}},
            "component_parameters": {"common": {"secure_add_example_0": {"partition": 4, "data_num": 1000}},
                                     "role": {"guest": {"0": {"secure_add_example_0": {"seed": 123}}},
                                              "host": {"0": {"secure_add_example_0": {"seed": 321}}}}}}
    job_id = submit(dsl, conf, "toy job (SecureAddExample)")
    lines = post("guest", "log/cat", {"job_id": job_id, "log_type": "partyInfo", "role": "guest",
                                      "party_id": "9999"})["data"]
    for line in lines:
        if "secure_add_guest" in line["content"]:
            print("    " + line["content"].split(": ", 1)[-1])


def _progress(job_id: str) -> str:
    tasks = post("guest", "job/task/query", {"job_id": job_id, "role": "guest", "party_id": 9999}).get("data") or []
    done = [t["f_component_name"] for t in tasks if t["f_status"] == "success"]
    running = [t["f_component_name"] for t in tasks if t["f_status"] == "running"]
    return f"{len(done)} components done" + (f", running {', '.join(running)}" if running else "")


def _follow(job_id: str, title: str, timeout_s: float = 300) -> tuple[str, float]:
    """Print the job's progress at the guest until it ends; (final status, seconds)."""
    started, shown = time.time(), ""
    while True:
        rows = post("guest", "job/query", {"job_id": job_id})["data"]
        status = rows[0]["f_status"] if rows else "waiting"
        line = f"    {time.time() - started:5.1f} s  {status:8s} {_progress(job_id)}"
        if line.split("s ", 1)[1] != shown:
            print(line)
            shown = line.split("s ", 1)[1]
        if status in ENDED:
            break
        if time.time() - started > timeout_s:
            sys.exit(f"{title} job {job_id} did not finish in {timeout_s:.0f} s")
        time.sleep(0.3)
    if status != "success":
        sys.exit(f"{title} job {job_id} {status}: see {HOME / 'guest' / 'logs' / job_id}")
    return status, time.time() - started


def hetero_lr_job() -> str:
    """FATE's hetero_lr_normal example (examples/jobs/hetero_lr): reader -> data transform -> intersection ->
    hetero LR (Paillier, arbiter at the host) -> evaluation, with its progress, the AUC and where to look."""
    dsl = json.loads((JOBS / "hetero_lr_dsl.json").read_text())
    conf = json.loads((JOBS / "hetero_lr_conf.json").read_text())
    answer = post("guest", "job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    if answer["retcode"] != 0:
        sys.exit(f"hetero LR job refused: {answer['retmsg']}")
    job_id = answer["jobId"]
    print(f"  hetero LR job {job_id} submitted (examples/jobs/hetero_lr)")
    _, seconds = _follow(job_id, "hetero LR")
    evaluation = post("guest", "tracking/component/summary/download", {
        "job_id": job_id, "role": "guest", "party_id": 9999, "component_name": "evaluation_0"}).get("data") or {}
    train = next(iter(evaluation.values()), {}).get("train", {})
    print(f"  hetero LR: success in {seconds:.1f} s; on the training data AUC {train.get('auc')}, "
          f"KS {train.get('ks')}")
    print(f"  look at it: flow job query -j {job_id}; flow component metric-all -j {job_id} -r guest -p 9999 "
          f"-cpn evaluation_0; logs in {HOME / 'guest' / 'logs' / job_id}")
    return job_id


def predict_job(train_job_id: str) -> None:
    """The trained model deployed on both parties (as ``flow model deploy --dsl-path`` does it), then the
    example predict job on it (examples/jobs/hetero_lr/hetero_lr_predict_*.json)."""
    dsl_text = (JOBS / "hetero_lr_predict_dsl.json").read_text()
    conf = json.loads((JOBS / "hetero_lr_predict_conf.json").read_text())
    model_id = conf["job_parameters"]["common"]["model_id"]
    deployed = post("guest", "model/deploy", {"model_id": model_id, "model_version": train_job_id, "dsl": dsl_text})
    if deployed["retcode"] != 0:
        sys.exit(f"model deploy refused: {deployed['retmsg']}")
    version = deployed["data"]["model_version"]
    parties = [f"{role} {party}" for role, answers in deployed["data"]["detail"].items() for party in answers]
    print(f"  model {model_id} version {train_job_id} deployed as version {version} on {', '.join(parties)}")
    conf["job_parameters"]["common"]["model_version"] = version
    answer = post("guest", "job/submit", {"job_dsl": json.loads(dsl_text), "job_runtime_conf": conf})
    if answer["retcode"] != 0:
        sys.exit(f"predict job refused: {answer['retmsg']}")
    job_id = answer["jobId"]
    print(f"  predict job {job_id} submitted on the deployed model")
    _, seconds = _follow(job_id, "predict")
    print(f"  predict: success in {seconds:.1f} s; the scores: flow component output-data -j {job_id} -r guest "
          f"-p 9999 -cpn hetero_lr_0 -o ./scores")


def stop() -> None:
    for role in PARTIES:
        pid = _running_pid(role)
        if pid:
            os.kill(pid, signal.SIGTERM)
            print(f"stopped the {role} server (pid {pid})")
        else:
            print(f"no {role} server running")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stop", action="store_true", help="stop the demo servers")
    if parser.parse_args().stop:
        stop()
        return
    keys = {role: ensure_keys(role) for role in PARTIES}
    pids = {role: start_server(role, _partner_keys_env(keys, role)) for role in PARTIES}
    print("uploads:")
    upload("guest", "breast_hetero_guest")
    upload("host", "breast_hetero_host")
    print("permissions:")
    grant_table("host", PARTIES["guest"][0], "breast_hetero_host")
    print("jobs:")
    toy_job()
    predict_job(hetero_lr_job())
    print(f"\nBoth servers keep running (guest pid {pids['guest']} at {_url('guest')}, host pid {pids['host']} "
          f"at {_url('host')}). Stop them with: make demo-stop")
    print(f"See the jobs, their DAGs, metrics and logs in a browser: {_url('guest')}/board/")
    print("Try the FATE client: flow init --ip 127.0.0.1 --port 9380 && flow test toy -gid 9999 -hid 10000")


if __name__ == "__main__":
    main()
