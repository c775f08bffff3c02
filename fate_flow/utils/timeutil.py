"""Time helpers: FATE stores *_time columns as epoch milliseconds."""

import time


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)
