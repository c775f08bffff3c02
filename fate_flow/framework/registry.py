"""The registry of components: every ``SPEC`` (or ``SPECS``) declared by a module of ``fate_flow.components``,
plus those of the modules a party adds through its settings (``components.modules``).

Spec modules import nothing heavy at the top (runners are named, not imported), so building the
registry costs the server little; the executor imports only the runner of the task it runs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Sequence
from functools import lru_cache

from fate_flow.framework.spec import ComponentSpec

BUILTIN_PACKAGE = "fate_flow.components"


class RegistryError(ValueError):
    """A component module could not be loaded, or two specs claim the same name."""


def _specs_of(module_name: str) -> list[ComponentSpec]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"component module {module_name} cannot be imported: {exc}") from exc
    specs = list(getattr(module, "SPECS", ()))
    if isinstance(getattr(module, "SPEC", None), ComponentSpec):
        specs.append(module.SPEC)
    return [spec for spec in specs if isinstance(spec, ComponentSpec)]


def _builtin_modules() -> list[str]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return [f"{BUILTIN_PACKAGE}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
            if not info.name.startswith("_")]


class Registry:
    """Specs by module name and alias; ``source(module)`` says which Python module declared one."""

    def __init__(self, modules: Iterable[str]):
        self._by_name: dict[str, ComponentSpec] = {}
        self._source: dict[str, str] = {}
        for module_name in modules:
            for spec in _specs_of(module_name):
                self._add(spec, module_name)

    def _add(self, spec: ComponentSpec, source: str) -> None:
        for name in spec.names:
            if name in self._by_name and self._by_name[name] is not spec:
                raise RegistryError(f"component name {name} is declared by both {self._source[name]} and {source}")
            self._by_name[name] = spec
            self._source[name] = source

    def find(self, module: str) -> ComponentSpec | None:
        """The spec of ``module`` (a name or an alias), or None."""
        return self._by_name.get(module)

    def get(self, module: str) -> ComponentSpec:
        """The spec of ``module``; raises LookupError naming it when this server does not provide it."""
        spec = self.find(module)
        if spec is None:
            raise LookupError(f"component module {module!r} is not provided by this server")
        return spec

    def has(self, module: str) -> bool:
        """Whether this server provides ``module`` (a name or an alias)."""
        return module in self._by_name

    def source(self, module: str) -> str:
        """The Python module that declares ``module``'s spec (the executor imports it)."""
        return self._source[self.get(module).module]

    def specs(self) -> list[ComponentSpec]:
        """Every component once (aliases folded), in name order."""
        unique = {id(spec): spec for spec in self._by_name.values()}
        return sorted(unique.values(), key=lambda spec: spec.module)

    def preload_modules(self) -> list[str]:
        """What the executor fork server imports ahead of time: every runner and its declared heavy imports."""
        modules: list[str] = []
        for spec in self.specs():
            modules.extend(spec.preload)
            modules.extend(spec.runner_modules())
        return list(dict.fromkeys(modules))


@lru_cache(maxsize=8)
def load_registry(extra_modules: Sequence[str] = ()) -> Registry:
    """The built-in components plus ``extra_modules`` (a tuple, so the result can be cached per process)."""
    return Registry([*_builtin_modules(), *extra_modules])


def spec_from_source(source: str, module: str) -> ComponentSpec:
    """In the executor: the spec named ``module`` declared by the Python module ``source``."""
    for spec in _specs_of(source):
        if module in spec.names:
            return spec
    raise RegistryError(f"{source} declares no component {module!r}")
