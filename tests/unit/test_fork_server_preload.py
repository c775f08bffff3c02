"""The executor fork server preloads what a task imports to read and write tables: a forked executor then
imports nothing more (pyarrow.parquet's read_table imported pyarrow.dataset, and with it pandas, in every
task: 0.25-0.33 s of each task of a breast hetero LR job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# in a fresh interpreter: preload as the fork server does, then write and read a stored table as a task does
SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from fate_flow.worker import fork_server
from fate_flow.framework.registry import load_registry
fork_server._preload(load_registry().preload_modules())
import numpy as np
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.engine.table import Schema
from fate_flow.entity.table_meta import TableMeta
before = set(sys.modules)
computing = StandaloneComputing()
table = computing.from_numpy(Schema(sid="id", header=("x0", "x1"), label="y"), ["a", "b"], np.ones((2, 2)),
                             labels=np.array([0, 1]))
directory = Path(tempfile.mkdtemp())
count = computing.write(table, directory)
meta = TableMeta("ns", "t", str(directory), count, {"sid": "id", "header": "x0,x1", "label_name": "y"})
stored = computing.read(meta)
assert stored.features().shape == (2, 2) and list(stored.labels()) == [0.0, 1.0]
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_forked_task_imports_nothing_to_read_and_write_a_table():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == [], f"imported after the fork server's preload: {imported[:20]}"
