"""Safe extraction of the gzip tar archives the server streams (job logs)."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fate_flow.client.common import ClientError

SPOOL_BYTES = 16 << 20


def save_stream(chunks: Iterable[bytes]) -> BinaryIO:
    """Spool downloaded chunks into a temporary file (in memory up to 16 MiB), rewound."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (the caller closes it)
    for chunk in chunks:
        spool.write(chunk)
    spool.seek(0)
    return spool


def check_member(member: tarfile.TarInfo, target: Path) -> Path:
    """Where ``member`` goes under ``target``; absolute names, ``..``, links and devices are refused."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise ClientError(f"refusing to extract archive member with an absolute path: {name!r}")
    if ".." in parts or "\\" in name:
        raise ClientError(f"refusing to extract archive member outside the output directory: {name!r}")
    if not (member.isfile() or member.isdir()):
        raise ClientError(f"refusing to extract archive member that is not a regular file or directory: {name!r}")
    destination = (target / name).resolve()
    if destination != target and target not in destination.parents:
        raise ClientError(f"refusing to extract archive member outside the output directory: {name!r}")
    return destination


def safe_extract(archive: BinaryIO, target: Path) -> list[Path]:
    """Extract a gzip tar into ``target`` after checking every member; returns the files written."""
    target = target.resolve()
    try:
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            members = tar.getmembers()
            destinations = [check_member(member, target) for member in members]
            target.mkdir(parents=True, exist_ok=True)
            return [path for member, path in zip(members, destinations, strict=True)
                    if _write_member(tar, member, path)]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ClientError(f"cannot extract the archive sent by the server into {target}: {exc}") from None


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path) -> bool:
    """Write one checked member; True for a file."""
    if member.isdir():
        destination.mkdir(parents=True, exist_ok=True)
        return False
    destination.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        return False
    with source, open(destination, "wb") as output:
        shutil.copyfileobj(source, output)
    return True
