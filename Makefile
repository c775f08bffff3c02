# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
FC_VENV := .venv-fate-client
# two workers overlap the tests' waits (server starts, job polls; the runs are mostly CPU): a file's tests on one
# (tests/conftest.py), what the machine has once (the RabbitMQ broker) in one group
PARALLEL ?= -n 2 --dist loadgroup
PY := $(VENV)/bin/python

.PHONY: demo demo-stop test test-cluster testsuites testsuites-ci lint venv fate-client spark bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# The real FATE client, in its own virtualenv (fate-client 1.11.3 breaks with urllib3 2).
$(FC_VENV)/.installed:
	$(PYTHON) -m venv $(FC_VENV)
	$(FC_VENV)/bin/pip install -q 'fate-client==1.11.3' 'urllib3<2'
	touch $@

# pyspark (~470 MB, its jars included; [sql]: the pandas its Arrow batch functions need) for the Spark standalone
# cluster the Spark tests run (they also need Java 17);
# not a core dependency of the server (pyproject's extra: spark)
$(VENV)/.spark-installed: | $(VENV)/.installed
	$(VENV)/bin/pip install -q 'pyspark[sql]==4.0.5'
	touch $@

venv: $(VENV)/.installed
fate-client: $(FC_VENV)/.installed
spark: $(VENV)/.spark-installed

demo: venv
	$(PY) demo/demo.py

demo-stop: venv
	$(PY) demo/demo.py --stop

test: venv fate-client spark
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q $(PARALLEL) -m "not testsuite and not cluster"

# jobs on a real Spark standalone cluster (started from the pyspark package) with RabbitMQ: slow, run by .ci/run
test-cluster: venv fate-client spark
	$(VENV)/bin/pytest -q -m cluster

# FATE 1.11.2's own testsuites (tests/testsuites), every job against a standalone server: slow, run by .ci/run
testsuites: venv fate-client
	$(VENV)/bin/pytest -q $(PARALLEL) -m testsuite

# what .ci/run runs: the first job of each suite (and its training job), the CLI examples and
# `flow test min`; every job takes ~20 min on a fast 2-core machine, ~50 on a slow one (BENCHMARKS.md)
testsuites-ci: venv fate-client
	FATE_TESTSUITE_JOBS_PER_FOLDER=1 $(VENV)/bin/pytest -q $(PARALLEL) -m testsuite

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: venv fate-client
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(FC_VENV) demo-home

# The board's vendored browser libraries (Chart.js, dagre): pinned in board-vendor/package-lock.json,
# copied into fate_flow/board/static/vendor/ and committed; rerun only to upgrade them.
.PHONY: board-vendor
board-vendor:
	board-vendor/vendor.sh
