"""(d) The board in Chromium against a server whose database holds 100,000 jobs.

The home's SQLite is filled before the server starts (jobrows.py: 100,000 finished one-task jobs). Then, in
headless Chromium (Debian's chromium and chromium-driver, laptop size 1366x768), each measured from the
navigation's start (``performance.now()`` of the new document, read when a MutationObserver, installed before
the page's own scripts run, sees the flag set):
  jobs:  /board/#/jobs until ``document.body.dataset.jobsReady == "1"``          (median of --runs; target <= 300 ms)
  dag:   /board/#/job/<id>/guest/9999 of a real 30-component chain (TestModule, sleep 0) until ``dagReady``
  tail:  the log page of a running component, live: a line appended to its INFO.log (with the time it was
         written) until it is in the DOM (median of --lines; target <= 1 s)
The first load of each page (an empty HTTP cache) is reported apart; the median is over the loads after it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jobrows
from benchlib import cleanup, new_home, save_result, start_server, summary
from dag_overhead import ENV, PARTY, chain_dsl, job_conf

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
TARGET_JOBS_MS, TARGET_TAIL_MS = 300.0, 1000.0
TIMEOUT_S = 60.0
# before the page's scripts: the time (ms since navigation start) each ready flag was first set
READY_OBSERVER = """
window.__ready = {};
new MutationObserver(() => {
  const body = document.body;
  if (!body) return;
  for (const key of ['jobsReady', 'dagReady'])
    if (body.dataset[key] === '1' && !(key in window.__ready)) window.__ready[key] = performance.now();
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ['data-jobs-ready', 'data-dag-ready']});
"""
# on the log page: the wall-clock time (ms) each bench line was first in the DOM
LINE_OBSERVER = """
window.__seen = {};
const scan = () => {
  for (const line of document.querySelectorAll('[data-testid=log-line]')) {
    const m = /bench-line-(\\d+)/.exec(line.textContent);
    if (m && !(m[1] in window.__seen)) window.__seen[m[1]] = performance.timeOrigin + performance.now();
  }
};
new MutationObserver(scan).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        sys.exit("needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="ffbench-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-quic", f"--user-data-dir={profile}", "--window-size=1366,768"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": READY_OBSERVER})
    return driver, profile


def wait(driver, script: str, timeout_s: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value is not None and value is not False:
            return value
        time.sleep(0.01)
    raise TimeoutError(f"{script!r} stayed empty for {timeout_s} s at {driver.current_url}")


def time_to_ready(driver, url: str, flag: str, runs: int) -> dict:
    """ms from navigation start to ``flag``, ``runs`` + 1 loads (the first apart)."""
    times = []
    for _ in range(runs + 1):
        driver.get("about:blank")
        driver.get(url)
        times.append(wait(driver, f"return window.__ready && window.__ready.{flag}"))
    return {"first_ms": round(times[0], 1), **summary(times[1:])}


def wait_status(server, job_id: str, statuses: tuple[str, ...], timeout_s: float = 300.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = server.job_status(job_id)
        if status in statuses:
            return status
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not reach {statuses}")


def submit(server, dsl: dict, conf: dict) -> str:
    reply = server.session.post(server.url + "/v1/job/submit", json={"job_dsl": dsl, "job_runtime_conf": conf},
                                timeout=60).json()
    if reply.get("retcode") != 0:
        raise RuntimeError(f"submit refused: {reply}")
    return reply["jobId"]


def tail_delays(driver, server, lines: int) -> dict:
    """Delays (ms) from appending a line to a running component's log to the line in the DOM."""
    slow = {"components": {"slow_0": {"module": "TestModule"}}}
    conf = job_conf(slow, 1)
    conf["component_parameters"]["common"]["slow_0"] = {"sleep": 600}
    job_id = submit(server, slow, conf)
    try:
        wait_status(server, job_id, ("running",), 120)
        log_file = server.home / "logs" / job_id / "guest" / str(PARTY) / "slow_0" / "INFO.log"
        deadline = time.monotonic() + 60
        while not log_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        driver.get("about:blank")
        driver.get(f"{server.url}/board/#/logs/{job_id}/guest/{PARTY}?component=slow_0&type=componentInfo")
        wait(driver, "return document.querySelector('[data-testid=log-live]')")
        driver.execute_script(LINE_OBSERVER)
        delays = []
        for i in range(lines):
            written = time.time() * 1000
            with open(log_file, "a") as log:
                log.write(f"[INFO] [{time.strftime('%Y-%m-%d %H:%M:%S')}] bench-line-{i} written at {written:.0f}\n")
            seen = wait(driver, f"return window.__seen['{i}']", 30)
            delays.append(seen - written)
            time.sleep(0.3)  # lines apart, as a component writes them (each delay measured on its own)
    finally:
        server.session.post(server.url + "/v1/job/stop", json={"job_id": job_id}, timeout=30)
    return summary(delays)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--components", type=int, default=30)
    args = parser.parse_args(argv)
    home = new_home()
    insert_s = jobrows.fill(home, args.jobs)
    server = start_server(home=home, env=ENV)
    driver, profile = browser()
    try:
        jobs = time_to_ready(driver, f"{server.url}/board/#/jobs", "jobsReady", args.runs)
        dsl = chain_dsl(args.components)
        job_id = submit(server, dsl, job_conf(dsl, 1))
        if wait_status(server, job_id, ("success", "failed", "canceled", "timeout")) != "success":
            raise RuntimeError(f"the {args.components}-component chain {job_id} did not succeed")
        dag = time_to_ready(driver, f"{server.url}/board/#/job/{job_id}/guest/{PARTY}", "dagReady", args.runs)
        tail = tail_delays(driver, server, args.lines)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        cleanup(server)
    payload = {"jobs_in_db": args.jobs, "insert_s": insert_s, "jobs_ready": jobs, "dag_ready": dag,
               "dag_components": args.components, "log_tail": tail,
               "targets_ms": {"jobs_ready": TARGET_JOBS_MS, "log_tail": TARGET_TAIL_MS}}
    print(f"{'board (Chromium, 1366x768)':40} {'first':>9} {'median':>9} {'p90':>9}  target", file=sys.stderr)
    for name, row, target in ((f"jobs list, {args.jobs:,} jobs -> jobsReady", jobs, f"<= {TARGET_JOBS_MS:.0f} ms"),
                              (f"job page, {args.components}-node DAG -> dagReady", dag, ""),
                              (f"log tail, line written -> in DOM (n={args.lines})", tail,
                               f"<= {TARGET_TAIL_MS:.0f} ms")):
        first = f"{row['first_ms']:.0f} ms" if "first_ms" in row else ""
        print(f"{name:40} {first:>9} {row['median']:>6.0f} ms {row['p90']:>6.0f} ms  {target}", file=sys.stderr)
    print(f"({args.jobs:,} jobs inserted in {insert_s:.1f} s)", file=sys.stderr)
    save_result("board", payload)
    return payload


if __name__ == "__main__":
    main()
