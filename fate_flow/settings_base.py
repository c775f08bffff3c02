"""What every settings module shares: the error a bad setting raises, typed reads that name the setting, and
YAML files read as mappings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class SettingsError(ValueError):
    """A settings file or override is malformed."""


def read_yaml(path: Path) -> dict:
    """The YAML file at ``path``, which must hold a mapping."""
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(content, dict):
        raise SettingsError(f"{path}: expected a mapping at the top level")
    return content


def typed(section: dict, section_name: str, key: str, cast: type) -> Any:
    """``section[key]`` converted by ``cast``; an error names the setting and the bad value."""
    if not isinstance(section, dict) or key not in section:
        raise SettingsError(f"setting {section_name}.{key} is missing")
    try:
        return cast(section[key])
    except (TypeError, ValueError):
        raise SettingsError(
            f"setting {section_name}.{key} must be {cast.__name__}, got {section[key]!r}"
        ) from None
