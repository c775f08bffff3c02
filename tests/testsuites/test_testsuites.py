"""Every job of FATE 1.11.2's testsuites of the folders issues 9 and 11 accept on, run as fate_test runs it
against one standalone server per suite: one test per (suite, job). Components whose conf leaves the key length
to its default get FATE 1.11.2's default, 1024 bits (``suite.with_default_key_length``).

    .venv/bin/pytest tests/testsuites -m testsuite -k data_transform      # one suite
    .venv/bin/pytest tests/testsuites -m testsuite -k "intersect and rsa"  # some jobs (dependencies run too)
    FATE_TESTSUITE_JOBS_PER_FOLDER=1 .venv/bin/pytest tests/testsuites -m testsuite   # CI's share (below)

``FATE_TESTSUITE_JOBS_PER_FOLDER=N`` keeps the first N jobs of each suite (in the suite's order; a predict job
brings its training job): ``make testsuites-ci``, what ``.ci/run`` runs, so that CI stays within its time on a
slow 2-core machine; ``make testsuites`` runs every job.

A failing test says why: the refusal of the submit (a module the server does not provide, a parameter), or
the failed task with its error report and the tail of its ERROR.log, and where its logs are. A predict job on
a trained job's model (``deps``) runs after its training job, on that model deployed as fate_test does it.
"""

from __future__ import annotations

import os

import pytest

from tests.testsuites.runner import JobResult
from tests.testsuites.suite import FOLDERS, load_folders

pytestmark = pytest.mark.testsuite

# the folders whose every job the algorithms issues (9 and 11) accept on
SUITES = {suite.folder: suite for suite in load_folders(FOLDERS)}
PER_FOLDER = int(os.environ.get("FATE_TESTSUITE_JOBS_PER_FOLDER") or 0)  # 0: every job


def _jobs(suite) -> list[str]:
    """The suite's jobs, or its first ``PER_FOLDER`` (dependencies run with them: the runner sees to it)."""
    names = list(suite.jobs)
    return names[:PER_FOLDER] if PER_FOLDER > 0 else names


# a suite's jobs share its server (and a predict job its training job's model): one xdist worker per suite
CASES = [pytest.param(folder, name, id=f"{folder}/{name}", marks=pytest.mark.xdist_group(folder))
         for folder, suite in SUITES.items() for name in _jobs(suite)]


def failure(result: JobResult) -> str:
    """The assertion message of a job that did not succeed."""
    return (f"{result.suite}/{result.job}: {result.status} (job {result.job_id}, {result.seconds:.1f} s)\n"
            f"{result.error}")


@pytest.mark.parametrize(("folder", "job"), CASES)
def test_job(folder: str, job: str, suite_servers) -> None:
    result = suite_servers.get(SUITES[folder]).run(job)
    if result.status == "xfail":
        pytest.xfail(result.error)
    if not result.ok:
        pytest.fail(failure(result), pytrace=False)
