"""FATE 1.11.2's own testsuites (``*testsuite.json`` in tests/data/dsl-v2/<folder>/) run against our server as
FATE's test tool (``fate_test suite``) runs them: the suite's tables uploaded with its upload options, every
job's party ids rewritten to fate_test's default parties, jobs submitted in fate_test's order, each waited for.

- ``suite.py``: loading a testsuite and rewriting its confs (no server);
- ``runner.py``: running a suite's jobs on a server and explaining a failure from the server's logs;
- ``survey.py``: which modules and conf features each suite needs;
- ``test_testsuites.py``: one pytest per (suite, job), marker ``testsuite``; ``test_harness.py``: the
  rewriting and ordering checked against fate_test's behaviour, without a server;
- ``__main__.py``: ``python -m tests.testsuites run intersect data_transform ...`` prints a progress table.
"""
