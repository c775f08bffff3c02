from __future__ import annotations

import random
from pathlib import Path

import pytest

from fate_flow.manager import log_reader
from fate_flow.manager.log_reader import LogReader, LogRequestError, log_path
from fate_flow.utils.paths import UnsafePathError


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_reader, "CHUNK", 256)  # many chunks from a small file


def _lines(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"line {i} " + "x" * rng.randint(0, 90) for i in range(1, count + 1)]


def test_size_and_ranges_match_a_plain_read(tmp_path: Path, small_chunks: None):
    path = tmp_path / "INFO.log"
    lines = _lines(2000)
    path.write_text("\n".join(lines) + "\n")
    reader = LogReader()
    assert reader.size(path) == 2000
    for begin, end in ((1, 1), (1, 10), (777, 1234), (1990, 2000), (1999, 5000)):
        got = reader.cat(path, begin, end)
        expected = lines[begin - 1:min(end, 2000)]
        assert [g["content"] for g in got] == expected
        assert [g["line_num"] for g in got] == list(range(begin, begin + len(expected)))


def test_index_follows_a_growing_file_and_a_truncation(tmp_path: Path, small_chunks: None):
    path = tmp_path / "INFO.log"
    reader = LogReader()
    lines = _lines(500)
    path.write_text("\n".join(lines[:300]) + "\n")
    assert reader.size(path) == 300
    with path.open("a") as stream:
        stream.write("\n".join(lines[300:]) + "\npartial")
    assert reader.size(path) == 501
    assert reader.cat(path, 499, 501)[-1]["content"] == "partial"
    path.write_text("short\n")
    assert reader.size(path) == 1 and reader.cat(path, 1, 5)[0]["content"] == "short"


def test_missing_file_is_empty(tmp_path: Path):
    assert LogReader().size(tmp_path / "none.log") == 0
    assert LogReader().cat(tmp_path / "none.log", 1, 10) == []


def test_paths_are_confined(tmp_path: Path):
    assert log_path(tmp_path, "j1", "componentInfo", "guest", "9999", "reader_0") == (
        tmp_path / "j1" / "guest" / "9999" / "reader_0" / "INFO.log").resolve()
    for args in (("..", "jobSchedule"), ("j1", "partyInfo", "..", "9999"), ("j1", "partyInfo", "guest", "a/b"),
                 ("j1", "componentInfo", "guest", "1", "`reboot`")):
        with pytest.raises(UnsafePathError):
            log_path(tmp_path, *args)
    with pytest.raises(LogRequestError):
        log_path(tmp_path, "j1", "/etc/passwd")
