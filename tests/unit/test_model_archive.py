"""Model archives: what export packs unpacks to the same files; every hostile or broken archive is refused
with a message naming what is wrong, before anything outside the target directory is touched."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fate_flow.engine.model_files import save_model
from fate_flow.manager.model_archive import ArchiveLimits, ModelArchiveError, pack, unpack

LIMITS = ArchiveLimits(max_bytes=1 << 20, max_entries=50)
PIPELINE = {"model_id": "guest-9999#model", "model_version": "1", "role": "guest", "party_id": "9999",
            "components": {"lr_0": {"module": "HeteroLR", "aliases": ["model"]}}}


def _version(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "pipeline.json").write_text(json.dumps(PIPELINE))
    (root / "variables" / "lr_0").mkdir(parents=True)
    save_model(root / "variables" / "lr_0" / "model", "HeteroLR", "model", {"w": 1}, {}, {"w": np.ones(4)})
    return root


def _archive(tmp_path: Path) -> bytes:
    buffer = io.BytesIO()
    pack(_version(tmp_path / "version"), buffer)
    return buffer.getvalue()


def _entries(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in links:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, data)
    return buffer.getvalue()


def _unpack(archive: bytes, tmp_path: Path, limits: ArchiveLimits = LIMITS) -> dict:
    target = tmp_path / "target"
    target.mkdir(parents=True, exist_ok=True)
    return unpack(io.BytesIO(archive), target, limits)


def test_an_exported_version_unpacks_to_the_same_files(tmp_path: Path):
    archive = _archive(tmp_path)
    assert _unpack(archive, tmp_path) == PIPELINE
    original = {p.relative_to(tmp_path / "version"): p.read_bytes()
                for p in (tmp_path / "version").rglob("*") if p.is_file()}
    unpacked = {p.relative_to(tmp_path / "target"): p.read_bytes()
                for p in (tmp_path / "target").rglob("*") if p.is_file()}
    assert unpacked == original


@pytest.mark.parametrize("name", ["../evil.json", "/etc/cron.d/evil", "variables/../../evil", "variables/lr_0/../x/y",
                                  "variables/lr_0/model/..", "variables/lr_0/model/.hidden", "define/define_meta.yaml",
                                  "variables\\lr_0\\model\\x", "variables/lr_0/model/sub/deeper"])
def test_an_entry_outside_the_layout_is_refused(tmp_path: Path, name: str):
    entries = {**_entries(_archive(tmp_path)), name: b"x"}
    with pytest.raises(ModelArchiveError, match="not part of a model archive"):
        _unpack(_zip(entries), tmp_path)
    assert not (tmp_path / "evil.json").exists() and not (tmp_path.parent / "evil").exists()


def test_links_duplicates_and_foreign_archives_are_refused(tmp_path: Path):
    entries = _entries(_archive(tmp_path))
    with pytest.raises(ModelArchiveError, match="is a link"):
        _unpack(_zip({**entries, "variables/lr_0/model/param.json": b"/etc/passwd"},
                     links=("variables/lr_0/model/param.json",)), tmp_path)
    doubled = io.BytesIO(_zip(entries))
    with zipfile.ZipFile(doubled, "a") as z, pytest.warns(UserWarning, match="Duplicate name"):
        z.writestr("pipeline.json", b"{}")
    with pytest.raises(ModelArchiveError, match="appears twice"):
        _unpack(doubled.getvalue(), tmp_path / "d")
    fate_archive = _zip({"define/define_meta.yaml": b"component_define: {}"})
    with pytest.raises(ModelArchiveError, match="not part of a model archive"):
        _unpack(fate_archive, tmp_path / "f")
    with pytest.raises(ModelArchiveError, match="no pipeline.json"):
        _unpack(_zip({"variables/lr_0/model/param.json": b"{}"}), tmp_path / "p")
    with pytest.raises(ModelArchiveError, match="not a zip archive"):
        _unpack(b"PK\x03\x04 this is not really a zip", tmp_path / "z")


def test_size_and_entry_limits_hold_whatever_the_headers_say(tmp_path: Path):
    archive = _archive(tmp_path)
    with pytest.raises(ModelArchiveError, match="entries, more than the 3 allowed"):
        _unpack(archive, tmp_path, ArchiveLimits(max_bytes=1 << 20, max_entries=3))
    bomb = _zip({**_entries(archive), "variables/lr_0/model/zeros.npy": bytes(4 << 20)})
    assert len(bomb) < (1 << 20) < 4 << 20  # small on the wire, large unpacked
    with pytest.raises(ModelArchiveError, match="more than the 1048576 allowed"):
        _unpack(bomb, tmp_path / "b")
    # a header that understates the size: the bytes really written are counted
    liar = bytearray(_zip({"pipeline.json": json.dumps(PIPELINE).encode(),
                           "variables/lr_0/model/big.bin": bytes(2 << 20)}))
    start = liar.rfind(b"variables/lr_0/model/big.bin")  # in the central directory: uncompressed size at -22
    liar[start - 22:start - 18] = (10).to_bytes(4, "little")
    with pytest.raises(ModelArchiveError):
        _unpack(bytes(liar), tmp_path / "l")
    assert sum(p.stat().st_size for p in (tmp_path / "l" / "target").rglob("*") if p.is_file()) <= 1 << 20


def test_broken_component_models_are_refused(tmp_path: Path):
    entries = _entries(_archive(tmp_path))
    altered = {**entries, "variables/lr_0/model/w.npy": entries["variables/lr_0/model/w.npy"][:-8] + bytes(8)}
    with pytest.raises(ModelArchiveError, match="does not match its manifest"):
        _unpack(_zip(altered), tmp_path / "a")
    unnamed = {**entries, **{f"variables/lr_9/model/{k.rsplit('/', 1)[1]}": v for k, v in entries.items()
                             if k.startswith("variables/lr_0/")}}
    with pytest.raises(ModelArchiveError, match="does not name"):
        _unpack(_zip(unnamed), tmp_path / "u")
    no_keys = {**entries, "pipeline.json": json.dumps({"components": PIPELINE["components"]}).encode()}
    with pytest.raises(ModelArchiveError, match="lacks model_id, model_version, role, party_id"):
        _unpack(_zip(no_keys), tmp_path / "k")
    corrupt = bytearray(_archive(tmp_path / "c"))
    offset = corrupt.find(b"PK\x03\x04", corrupt.find(b"w.npy") - 60)
    corrupt[offset + 80:offset + 90] = bytes(10)
    with pytest.raises(ModelArchiveError):
        _unpack(bytes(corrupt), tmp_path / "c")
