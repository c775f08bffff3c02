"""Where a training component's time goes: seconds per phase (encrypt, decrypt, waiting for the others ...),
logged as one line at the end of a fit so a slow job says why (the benchmarks read these lines)."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any


class Timings:
    """Seconds per phase of one party's fit; ``log`` writes ``<label> timings (<role>): phase 1.20 s, ...``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the time spent inside the ``with`` to ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def log(self, ctx: Any, role: str, pool: Any = None) -> None:
        """One INFO line, and with an obfuscator ``pool`` how many it had ready and how many were made inline."""
        parts = ", ".join(f"{name} {value:.2f} s" for name, value in sorted(self.seconds.items()))
        if pool is not None:
            parts += f"; obfuscators: {pool.taken} from the pool, {pool.made_here} made inline"
        ctx.logger.info("%s timings (%s): %s", self.label, role, parts)
