"""Command line: run FATE's testsuites against a fresh standalone server per suite and print a table.

    PYTHONPATH=. .venv/bin/python -m tests.testsuites run intersect data_transform [--job NAME] [--timeout S]
    PYTHONPATH=. .venv/bin/python -m tests.testsuites run --all          # every folder of issue 9 and after
    PYTHONPATH=. .venv/bin/python -m tests.testsuites needs [FOLDER ...]  # modules and conf features per suite
    PYTHONPATH=. .venv/bin/python -m tests.testsuites list [FOLDER ...]   # the jobs and their rewritten parties

Exit status 0 when every job run succeeded (xfail jobs aside), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from tests.testsuites.runner import JOB_TIMEOUT, JobResult, SuiteRun, standalone_server, upload_suite_data
from tests.testsuites.suite import FOLDERS, Testsuite, load_folders
from tests.testsuites.survey import report

ERROR_WIDTH = 150


def _table(results: list[JobResult]) -> str:
    rows = [("suite", "job", "status", "seconds", "first error line")]
    rows += [(r.suite, r.job, r.status, f"{r.seconds:.1f}", r.first_error_line[:ERROR_WIDTH]) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
                     for row in rows)


def _run_suite(suite: Testsuite, jobs: list[str] | None, timeout: float, home: Path | None,
               verbose: bool) -> list[JobResult]:
    print(f"== {suite.folder}: {len(suite.data)} uploads, {len(suite.jobs)} jobs", file=sys.stderr, flush=True)
    with ExitStack() as stack:
        try:
            server = stack.enter_context(standalone_server(home))
        except RuntimeError as exc:  # the server's own error (e.g. a component module that cannot be imported)
            last_line = str(exc).strip().splitlines()[-1]
            print(f"   server did not start: {exc}", file=sys.stderr)
            return [JobResult(suite.folder, name, "not submitted", error=f"server did not start: {last_line}")
                    for name in (jobs if jobs is not None else suite.jobs)]
        failures = upload_suite_data(server, suite)
        for failure in failures.values():
            print("   " + failure.splitlines()[0], file=sys.stderr)

        def progress(result: JobResult) -> None:
            print(f"   {result.job}: {result.status} {result.seconds:.1f}s {result.first_error_line[:ERROR_WIDTH]}",
                  file=sys.stderr, flush=True)
            if verbose and result.error:
                print("      " + result.error.replace("\n", "\n      "), file=sys.stderr, flush=True)

        run = SuiteRun(suite, server, timeout, failures, on_result=progress)
        results = [run.run(name) for name in jobs] if jobs is not None else run.run_all()
        print(f"   server home: {server.home}", file=sys.stderr)
    return results


def _run(args: argparse.Namespace) -> int:
    suites = load_folders(FOLDERS if args.all or not args.folders else args.folders)
    started = time.monotonic()
    results: list[JobResult] = []
    try:
        for suite in suites:
            jobs = [name for name in suite.jobs if name in args.job] if args.job else None  # None: all, in order
            if jobs == []:
                continue
            home = Path(args.home) / suite.folder if args.home else None  # None: a new temporary home
            results += _run_suite(suite, jobs, args.timeout, home, args.verbose)
            if args.json:
                Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=1))
    except (KeyboardInterrupt, SystemExit):  # the suite's server and running job are stopped on the way out
        print("interrupted: the results so far", file=sys.stderr)
    print(_table(results))
    passed = sum(r.ok for r in results)
    expected = sum(r.status == "xfail" for r in results)
    print(f"\n{passed}/{len(results)} succeeded, {expected} expected failures (xfail), "
          f"{len(results) - passed - expected} failed, {time.monotonic() - started:.0f} s")
    return 0 if passed + expected == len(results) else 1


def _list(args: argparse.Namespace) -> int:
    for suite in load_folders(args.folders or FOLDERS):
        print(f"{suite.folder} ({suite.path.name})")
        for entry in suite.data:
            print(f"  upload {entry.table} <- {entry.file.name} at {entry.role_str} (party {entry.party_id()})")
        for name in suite.submission_order():
            job = suite.jobs[name]
            conf = job.submit_conf()
            deps = f" after {job.model_deps}" if job.model_deps else ""
            print(f"  job {name}: roles {conf['role']}{deps}; modules {sorted(set(job.modules().values()))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testsuites", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run suites (dsl-v2 folder names) on a fresh standalone server each")
    run.add_argument("folders", nargs="*", help=f"dsl-v2 folders (default: all of {', '.join(FOLDERS)})")
    run.add_argument("--all", action="store_true", help="every folder of issue 9 and after")
    run.add_argument("--job", action="append", help="only this job (repeatable; its dependency runs too)")
    run.add_argument("--timeout", type=float, default=JOB_TIMEOUT, help="seconds one job may take")
    run.add_argument("--home", help="keep the servers' homes under this directory (one per suite)")
    run.add_argument("--json", help="also write the results to this file")
    run.add_argument("-v", "--verbose", action="store_true", help="print each failure's whole explanation")
    for name, helptext in (("needs", "modules and conf features per suite"), ("list", "jobs and parties")):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("folders", nargs="*")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill stops the servers as Ctrl-C does
    if args.command == "run":
        return _run(args)
    if args.command == "needs":
        print(report(load_folders(args.folders or FOLDERS)))
        return 0
    return _list(args)


if __name__ == "__main__":
    sys.exit(main())
