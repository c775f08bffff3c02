"""Path confinement and identifier checks: request data never escapes its directory."""

from __future__ import annotations

import re
from pathlib import Path

from fate_flow.errors import UnsafePathError

# What FATE's clients and Board accept as ids and names (the Board checks ^[.0-9a-zA-Z_-]+$).
SAFE_NAME = re.compile(r"^[0-9A-Za-z_.\-]{1,200}$")


__all__ = ["SAFE_NAME", "UnsafePathError", "check_name", "confine", "partial_path", "within_any"]

def check_name(field: str, value: object) -> str:
    """A request field used as a file or directory name: letters, digits, '_', '-', '.', no '..'."""
    text = str(value) if value is not None else ""
    if not SAFE_NAME.match(text) or text in (".", "..") or ".." in text:
        raise UnsafePathError(
            f"{field} {text!r} is not allowed: use letters, digits, '_', '-' and '.' only"
        )
    return text


def confine(root: Path, *parts: str) -> Path:
    """``root/parts...`` resolved, refusing anything that resolves outside ``root``."""
    root = root.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise UnsafePathError(f"path {'/'.join(parts)!r} leaves its directory")
    return target


def within_any(path: Path, roots: list[Path]) -> bool:
    """Whether ``path``, symlinks resolved, is one of ``roots`` or inside one."""
    resolved = path.resolve()
    return any(resolved == r.resolve() or r.resolve() in resolved.parents for r in roots)


def partial_path(output: Path, job_id: str) -> Path:
    """Where a file is written before it is renamed into place at ``output``: a killed writer leaves
    nothing at ``output``, and the server removes this file when the task does not succeed."""
    return output.with_name(f".{output.name}.{job_id}.partial")
