"""`make demo`: start one party on embedded defaults, upload breast_hetero_guest through the API,
print the job's status and the table's info, and leave the server running.

    python demo/demo.py          # start (or reuse) the demo server and run the upload job
    python demo/demo.py --stop   # stop the demo server
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
PID_FILE = HOME / "server.pid"
DATA = REPO / "examples" / "data" / "breast_hetero_guest.csv"
URL = "http://127.0.0.1:9380"


def _running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _answers() -> bool:
    try:
        return requests.post(f"{URL}/v1/version/get", json={}, timeout=1).json()["retcode"] == 0
    except (requests.RequestException, ValueError, KeyError):
        return False


def start_server() -> int:
    pid = _running_pid()
    if pid and _answers():
        print(f"demo server already running (pid {pid})")
        return pid
    if _answers():
        sys.exit(f"another server already answers at {URL}; stop it first")
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / "server.out", "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "fate_flow", "server", "--home", str(HOME)], cwd=REPO,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    PID_FILE.write_text(str(process.pid))
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited; see {HOME / 'server.out'}")
        if _answers():
            print(f"server started (pid {process.pid}) at {URL}, home {HOME}")
            return process.pid
        time.sleep(0.1)
    sys.exit("the server did not answer within 30 s")


def upload() -> str:
    conf = {"file": str(DATA), "id_delimiter": ",", "head": 1, "partition": 4, "namespace": "experiment",
            "table_name": "breast_hetero_guest", "drop": 1}
    with DATA.open("rb") as stream:
        answer = requests.post(f"{URL}/v1/data/upload?{quote(json.dumps(conf))}",
                               files={"file": (DATA.name, stream, "application/octet-stream")}, timeout=60).json()
    if answer["retcode"] != 0:
        sys.exit(f"upload refused: {answer}")
    print(f"upload job submitted: {answer['jobId']}")
    return answer["jobId"]


def wait(job_id: str) -> dict:
    started = time.time()
    while time.time() - started < 60:
        job = requests.post(f"{URL}/v1/job/query", json={"job_id": job_id}, timeout=10).json()["data"][0]
        if job["f_status"] in ("success", "failed", "canceled", "timeout"):
            return job
        time.sleep(0.05)
    sys.exit(f"job {job_id} did not finish in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stop", action="store_true", help="stop the demo server")
    if parser.parse_args().stop:
        pid = _running_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            print(f"stopped the demo server (pid {pid})")
        else:
            print("no demo server running")
        return
    pid = start_server()
    job_id = upload()
    job = wait(job_id)
    print(f"job {job_id}: {job['f_status']} in {job['f_elapsed']} ms")
    info = requests.post(f"{URL}/v1/table/table_info",
                         json={"namespace": "experiment", "table_name": "breast_hetero_guest"}, timeout=10).json()
    print("table info:", json.dumps(info["data"], indent=2))
    print(f"\nThe server keeps running (pid {pid}, {URL}). Stop it with: make demo-stop  (or kill {pid})")
    print(f"Try the FATE client: flow init --ip 127.0.0.1 --port 9380 && flow job query -j {job_id}")
    if job["f_status"] != "success":
        sys.exit(1)


if __name__ == "__main__":
    main()
