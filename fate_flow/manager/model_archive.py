"""Model archives: one version of the model store as a zip file, for ``model/export`` and ``model/import``.

An archive holds exactly the version's files: ``pipeline.json``, ``variables/<component>/<alias>/<file>`` and
``converted/<component>/<alias>/<file>`` (a homo model converted to another framework's format, for the user:
never read here). Unpacking trusts nothing in it: every entry name is checked before anything is written (no
absolute path, no ``..``, no link, nothing outside that layout, no name twice), the entry count and the bytes
written are bounded whatever the headers claim, and every component model must match its manifest. The
server reads only JSON and numpy files (without pickle) from an archive: nothing in one is ever unpickled or
executed.
"""

from __future__ import annotations

import json
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fate_flow.engine.model_files import ModelFileError, read_manifest
from fate_flow.manager.model_store import CONVERTED, PIPELINE, VARIABLES
from fate_flow.utils.paths import SAFE_NAME

CHUNK = 1 << 20


class ModelArchiveError(ValueError):
    """An archive that is not a model archive of this server, or breaks a rule above; the message says which."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_bytes: int  # of the archive, and of what it unpacks to
    max_entries: int


def pack(directory: Path, into: IO[bytes]) -> None:
    """Write version ``directory`` of the model store (its pipeline and component models) as a zip archive."""
    with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.write(directory / PIPELINE, PIPELINE)
        for top in (VARIABLES, CONVERTED):
            for path in sorted((directory / top).rglob("*")):
                if path.is_file() and not path.is_symlink():
                    archive.write(path, path.relative_to(directory).as_posix())


def unpack(source: IO[bytes] | Path, target: Path, limits: ArchiveLimits) -> dict[str, Any]:
    """Unpack a model archive into the empty directory ``target``; its pipeline (checked against the files).
    ModelArchiveError on anything else; ``target`` may then hold part of the archive (the caller removes it)."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelArchiveError(f"not a zip archive ({exc})") from None
    with archive:
        entries = _checked_entries(archive, limits)
        written = 0
        for entry in entries:
            written = _extract(archive, entry, target / entry.filename, written, limits.max_bytes)
    pipeline = _pipeline(target)
    _check_components(target, pipeline)
    return pipeline


def _checked_entries(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ModelArchiveError(f"the archive has {len(infos)} entries, more than the {limits.max_entries} allowed "
                                "(limits.model_archive_entries)")
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_bytes:
        raise ModelArchiveError(f"the archive unpacks to {declared} bytes, more than the {limits.max_bytes} allowed "
                                "(limits.model_archive_mb)")
    seen: set[str] = set()
    files = []
    for info in infos:
        name = info.filename
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ModelArchiveError(f"entry {name!r} is a link: an archive holds regular files only")
        if info.is_dir():
            if not _is_model_dir(name.rstrip("/")):
                raise ModelArchiveError(f"entry {name!r} is not part of a model archive")
            continue
        if name in seen:
            raise ModelArchiveError(f"entry {name!r} appears twice")
        seen.add(name)
        if name != PIPELINE and not _is_model_file(name):
            raise ModelArchiveError(f"entry {name!r} is not part of a model archive (only {PIPELINE} and "
                                    f"{VARIABLES}|{CONVERTED}/<component>/<alias>/<file>)")
        files.append(info)
    if PIPELINE not in seen:
        raise ModelArchiveError(f"the archive has no {PIPELINE}: it is not a model archive of this server")
    return files


def _safe_part(part: str) -> bool:
    return bool(SAFE_NAME.match(part)) and part not in (".", "..") and ".." not in part


def _is_model_file(name: str) -> bool:
    """``variables/<component>/<alias>/<file>`` or ``converted/<component>/<alias>/<file>``."""
    parts = name.split("/")
    return len(parts) == 4 and parts[0] in (VARIABLES, CONVERTED) and all(_safe_part(p) for p in parts[1:]) \
        and not parts[3].startswith(".")


def _is_model_dir(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 3 and parts[0] in (VARIABLES, CONVERTED) and all(_safe_part(p) for p in parts[1:])


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, written: int, max_bytes: int) -> int:
    """Copy one entry, counting the bytes really written (a header may lie about its size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with archive.open(info) as stream, path.open("xb") as out:
            while block := stream.read(CHUNK):
                written += len(block)
                if written > max_bytes:
                    raise ModelArchiveError(f"the archive unpacks to more than {max_bytes} bytes "
                                            "(limits.model_archive_mb)")
                out.write(block)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        # a corrupt entry (a bad CRC, a truncated stream), an encrypted one, an unknown compression
        raise ModelArchiveError(f"entry {info.filename!r} cannot be read ({exc})") from None
    return written


PIPELINE_KEYS = ("model_id", "model_version", "role", "party_id")


def _pipeline(target: Path) -> dict[str, Any]:
    try:
        pipeline = json.loads((target / PIPELINE).read_text())
    except (OSError, ValueError) as exc:
        raise ModelArchiveError(f"{PIPELINE} is not JSON ({exc})") from None
    if not isinstance(pipeline, dict) or not isinstance(pipeline.get("components"), dict):
        raise ModelArchiveError(f"{PIPELINE} is not a pipelined model")
    missing = [key for key in PIPELINE_KEYS if not isinstance(pipeline.get(key), str | int)]
    if missing:
        raise ModelArchiveError(f"{PIPELINE} lacks {', '.join(missing)}")
    return pipeline


def _check_components(target: Path, pipeline: dict[str, Any]) -> None:
    """Every component model the pipeline names is in the archive and matches its manifest, and nothing else is."""
    named = set()
    for component, entry in pipeline["components"].items():
        aliases = entry.get("aliases") if isinstance(entry, dict) else None
        if not _safe_part(str(component)) or not isinstance(aliases, list):
            raise ModelArchiveError(f"{PIPELINE}: component {component!r} is not described as a model store's")
        for alias in aliases:
            if not isinstance(alias, str) or not _safe_part(alias):
                raise ModelArchiveError(f"{PIPELINE}: component {component!r} names a bad model alias {alias!r}")
            named.add((component, alias))
            try:
                read_manifest(target / VARIABLES / component / alias)
            except ModelFileError as exc:
                raise ModelArchiveError(f"component model {component}/{alias}: {exc}") from None
    variables = target / VARIABLES
    present = {(p.parent.name, p.name) for p in variables.glob("*/*")} if variables.is_dir() else set()
    if present - named:
        raise ModelArchiveError(f"the archive holds component models its {PIPELINE} does not name: "
                                f"{sorted(present - named)}")
