"""Loading a FATE testsuite (``*testsuite.json``) and rewriting its jobs as fate_test 1.11.2 does.

What fate_test does (python/fate_test/fate_test/{_parser,_config,_flow_client}.py, scripts/testsuite_cli.py):
- its default config's parties are guest [9999], host [10000, 9999], arbiter [10000];
- a job conf's ``role`` becomes, for each role, the first N parties of that role in the config (N = how many
  the conf lists), its ``initiator`` the first party of the initiator's role, and ``timeout`` (the ``-m``
  option, 3600 s by default) goes into ``job_parameters.common``;
- a data entry's ``role`` (``guest_0``, ``host_1``; a bare ``guest`` means ``guest_0``) picks the party whose
  flow service gets the upload; the upload conf is the entry without ``role``, with ``use_local_data`` 1,
  ``drop`` 1 and ``verbose`` 0 added and ``file`` made absolute (here: FATE's tables in tests/data/fate-data);
- jobs run in the order of a queue: the jobs without dependencies in file order, then each job whose
  dependency (``deps`` / ``model_deps``) succeeded, once it has; a failed dependency leaves its jobs unsubmitted.
"""

from __future__ import annotations

import copy
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DSL_ROOT = REPO / "tests" / "data" / "dsl-v2"
FATE_DATA = REPO / "tests" / "data" / "fate-data"
EXAMPLES_DATA = "examples/data/"  # how the suites name FATE's tables; their copies are in FATE_DATA

# the folders whose suites issue 9 accepts on, then those of the issues after it
ISSUE_9_FOLDERS = ("intersect", "data_transform", "homo_logistic_regression", "union", "label_transform",
                   "feature_imputation", "data_statistics", "data_split", "hetero_linear_regression",
                   "hetero_poisson_regression", "column_expand")
ISSUE_11_FOLDERS = ("hetero_secureboost", "homo_secureboost", "hetero_feature_binning", "hetero_feature_selection",
                    "homo-feature-binning", "hetero_logistic_regression", "feature_scale", "sample_weight", "psi",
                    "hetero_pearson", "homo_onehot", "multi_model_pipeline")
FOLDERS = ISSUE_9_FOLDERS + ISSUE_11_FOLDERS
FATE_DEFAULT_KEY_LENGTH = 1024  # FATE 1.11.2's consts.DEFAULT_KEY_LENGTH (1.11.4 and this server: 2048)
# the parameters FATE 1.11.2 defaults to that key length: Paillier's, and the RSA and DH intersections'
KEYED_PARAMS = ("encrypt_param", "rsa_params", "dh_params")

FATE_TEST_PARTIES: dict[str, list[int]] = {"guest": [9999], "host": [10000, 9999], "arbiter": [10000]}
FATE_TEST_TIMEOUT = 3600  # fate_test suite -m default, written into every conf
MODEL_DEPS = ("model_deps", "deps")  # fate_test reads model_deps first, deps as its older name
OTHER_DEPS = ("data_deps", "cache_deps", "model_loader_deps")  # none of FOLDERS uses them


class SuiteError(ValueError):
    """A testsuite that cannot be loaded as written (a missing file, an unknown role string)."""


@dataclass(frozen=True)
class DataEntry:
    """One table a suite uploads: where, as what, with which upload options."""

    role_str: str  # guest_0, host_1: the party (of fate_test's config) whose server gets the upload
    options: dict[str, Any]  # the entry's upload options: head, partition, table_name, namespace, extend_sid...
    file: Path  # the local copy of the suite's ``file``

    @property
    def table(self) -> str:
        """``namespace.table_name``."""
        return f"{self.options['namespace']}.{self.options.get('table_name') or self.options.get('name')}"

    def party_id(self, parties: dict[str, list[int]] = FATE_TEST_PARTIES) -> int:
        """The party this entry is uploaded at."""
        role, index = self.role_str.rsplit("_", 1)
        try:
            return parties[role][int(index)]
        except (KeyError, IndexError, ValueError):
            raise SuiteError(f"data role {self.role_str!r} has no party in {parties}") from None

    def upload_conf(self) -> dict[str, Any]:
        """The conf fate_test's client sends with the file (``flow data upload -c ... --drop``)."""
        return {**self.options, "file": str(self.file), "use_local_data": 1, "drop": 1, "verbose": 0}


@dataclass
class SuiteJob:
    """One job (``tasks`` entry) of a suite, with its conf and DSL as the suite's files have them."""

    name: str
    conf: dict[str, Any]
    dsl: dict[str, Any] | None
    conf_path: Path
    dsl_path: Path | None
    model_deps: str | None = None  # the training job whose model this (predict) job uses
    other_deps: dict[str, Any] = field(default_factory=dict)  # data_deps / cache_deps / model_loader_deps

    def modules(self) -> dict[str, str]:
        """Component name -> module, as the DSL has them."""
        return dsl_modules(self.dsl or {})

    def submit_conf(self, parties: dict[str, list[int]] = FATE_TEST_PARTIES,
                    timeout: int | None = FATE_TEST_TIMEOUT, key_length: int | None = None) -> dict[str, Any]:
        """The conf fate_test submits: parties rewritten, its timeout in the common job parameters; with
        ``key_length``, FATE 1.11.2's default key length where the conf leaves it to the default."""
        conf = rewrite_parties(self.conf, parties, timeout)
        return with_default_key_length(conf, self.modules(), key_length) if key_length else conf


@dataclass
class Testsuite:
    """A loaded ``*testsuite.json``."""

    name: str  # the file's stem, as fate_test names a suite (``intersect_testsuite``)
    folder: str  # its folder under dsl-v2 (``intersect``): what the command line and pytest ids use
    path: Path
    data: list[DataEntry]
    jobs: dict[str, SuiteJob]

    def submission_order(self) -> list[str]:
        """fate_test's order when every job succeeds (see ``jobs_after``)."""
        return self.jobs_after(lambda name: True)

    def jobs_after(self, succeeded) -> list[str]:
        """The jobs fate_test submits, in its order, given ``succeeded(name)`` for each job once it has run:
        its ready queue pops the oldest job; a job's dependants join the queue once it has succeeded."""
        waiting: dict[str, list[str]] = {}
        ready: deque[str] = deque()
        for job in self.jobs.values():
            parents = job_dependencies(job)
            for parent in parents:
                waiting.setdefault(parent, []).append(job.name)
            if not parents:
                ready.appendleft(job.name)
        blocked = {job.name: set(job_dependencies(job)) for job in self.jobs.values()}
        order: list[str] = []
        while ready:
            name = ready.pop()
            order.append(name)
            if not succeeded(name):
                continue
            for child in waiting.pop(name, []):
                blocked[child].discard(name)
                if not blocked[child]:
                    ready.appendleft(child)
        return order


def job_dependencies(job: SuiteJob) -> list[str]:
    """The names of the jobs ``job`` waits for (fate_test's ``pre_works``)."""
    names = [job.model_deps] if job.model_deps else []
    for key, value in job.other_deps.items():
        names.extend(list(value) if key == "data_deps" else [value])
    return names


def rewrite_parties(conf: dict[str, Any], parties: dict[str, list[int]] = FATE_TEST_PARTIES,
                    timeout: int | None = FATE_TEST_TIMEOUT) -> dict[str, Any]:
    """A copy of ``conf`` with fate_test's parties: each role gets the first N parties of that role in
    ``parties`` (N as many as ``conf`` lists), the initiator the first party of its role."""
    rewritten = copy.deepcopy(conf)
    roles: dict[str, list[int]] = {}
    for role, listed in conf.get("role", {}).items():
        available = parties.get(role, [])
        if len(available) < len(listed):
            raise SuiteError(f"require {len(listed)} {role} parties, only {len(available)} in {parties}")
        roles[role] = available[:len(listed)]
    rewritten["role"] = roles
    initiator_role = conf["initiator"]["role"].strip()
    if not parties.get(initiator_role):
        raise SuiteError(f"initiator role {initiator_role} has no party in {parties}")
    rewritten["initiator"] = {"role": initiator_role, "party_id": parties[initiator_role][0]}
    rewritten.setdefault("job_parameters", {})
    if timeout:
        if conf.get("dsl_version", 1) == 2:
            rewritten["job_parameters"].setdefault("common", {})["timeout"] = timeout
        else:
            rewritten["job_parameters"]["timeout"] = timeout
    return rewritten


def dsl_modules(dsl: dict[str, Any]) -> dict[str, str]:
    """Component name -> module, as a DSL has them."""
    return {name: spec.get("module", "?") for name, spec in (dsl.get("components") or {}).items()}


def with_default_key_length(conf: dict[str, Any], modules: dict[str, str], key_length: int) -> dict[str, Any]:
    """A copy of ``conf`` where each keyed parameter (``KEYED_PARAMS``) of a component that takes it and is not
    given a key length anywhere (common or a party's section) gets ``key_length`` in its common parameters.

    FATE 1.11.2's EncryptParam, and its Intersection's RSAParam and DHParam, default to 1024 bits
    (``consts.DEFAULT_KEY_LENGTH``); this server defaults to 2048 (docs/fate-params-1.11.md). The testsuite tier
    runs FATE's suites with FATE's own default: the same jobs, at the cost FATE's users pay for them. Jobs that
    name a key length keep theirs."""
    from fate_flow.framework.registry import load_registry

    registry = load_registry()
    rewritten = copy.deepcopy(conf)
    parameters = rewritten.setdefault("component_parameters", {})
    for name, module in modules.items():
        spec = registry.find(module)
        for param in KEYED_PARAMS:
            if spec is None or param not in spec.params.model_fields or _names_key_length(conf, name, param):
                continue
            common = parameters.setdefault("common", {}).setdefault(name, {})
            given = common.get(param)
            common[param] = {**(given if isinstance(given, dict) else {}), "key_length": key_length}
    return rewritten


def _names_key_length(conf: dict[str, Any], component: str, param: str) -> bool:
    parameters = conf.get("component_parameters") or {}
    sections = [(parameters.get("common") or {}).get(component)]
    for by_index in (parameters.get("role") or {}).values():
        for party in (by_index or {}).values():
            sections.append((party or {}).get(component))
    return any(isinstance(s, dict) and isinstance(s.get(param), dict) and "key_length" in s[param] for s in sections)



def set_predict_model(conf: dict[str, Any], model_id: str, model_version: str) -> dict[str, Any]:
    """A copy of ``conf`` for a predict job on a deployed model (fate_test's ``set_pre_work``)."""
    rewritten = copy.deepcopy(conf)
    job_parameters = rewritten.setdefault("job_parameters", {})
    common = job_parameters.setdefault("common", {}) if conf.get("dsl_version", 1) == 2 else job_parameters
    common.update(model_id=model_id, model_version=model_version)
    common.setdefault("job_type", "predict")
    return rewritten


def local_table(file: str) -> Path:
    """Our copy of a table a suite names as ``examples/data/X.csv``."""
    if not file.startswith(EXAMPLES_DATA):
        raise SuiteError(f"table {file!r} is not one of FATE's examples/data tables")
    path = FATE_DATA / file[len(EXAMPLES_DATA):]
    if not path.is_file():
        raise SuiteError(f"table {file} has no copy at {path.relative_to(REPO)} "
                         f"(copy it from FATE 1.11.2's examples/data)")
    return path


def _data_entry(entry: dict[str, Any]) -> DataEntry:
    role_str = entry.get("role", "")
    role_str = "guest_0" if role_str == "guest" else role_str
    if "_" not in role_str:
        raise SuiteError(f"data entry {entry.get('table_name')}: role {role_str!r} is not like guest_0 or host_1")
    options = {key: value for key, value in entry.items() if key not in ("file", "role")}
    return DataEntry(role_str=role_str, options=options, file=local_table(entry["file"]))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SuiteError(f"{path.relative_to(REPO)} does not exist")
    return json.loads(path.read_text())


def _suite_job(name: str, spec: dict[str, Any], base: Path) -> SuiteJob:
    conf_path = (base / spec["conf"]).resolve()
    dsl_path = (base / spec["dsl"]).resolve() if spec.get("dsl") else None
    model_deps = next((spec[key] for key in MODEL_DEPS if spec.get(key)), None)
    return SuiteJob(name=name, conf=_read_json(conf_path), dsl=_read_json(dsl_path) if dsl_path else None,
                    conf_path=conf_path, dsl_path=dsl_path, model_deps=model_deps,
                    other_deps={key: spec[key] for key in OTHER_DEPS if spec.get(key)})


def load_suite(path: Path) -> Testsuite:
    """Load one ``*testsuite.json`` (its confs and DSLs too)."""
    raw = _read_json(path)
    jobs = {name: _suite_job(name, spec, path.parent) for name, spec in (raw.get("tasks") or {}).items()}
    for job in jobs.values():
        missing = [name for name in job_dependencies(job) if name not in jobs]
        if missing:
            raise SuiteError(f"{path.name}: job {job.name} depends on {missing}, which the suite does not have")
    return Testsuite(name=path.stem, folder=path.parent.name, path=path,
                     data=[_data_entry(entry) for entry in raw.get("data") or []], jobs=jobs)


def suite_paths(folder: str) -> list[Path]:
    """The testsuite files of one dsl-v2 folder (fate_test includes ``**/*testsuite.json``)."""
    directory = DSL_ROOT / folder
    if not directory.is_dir():
        known = ", ".join(sorted(p.name for p in DSL_ROOT.iterdir() if p.is_dir()))
        raise SuiteError(f"no folder {folder!r} in {DSL_ROOT.relative_to(REPO)} (there are: {known})")
    return sorted(directory.glob("**/*testsuite.json"))


def load_folders(folders: tuple[str, ...] | list[str] = FOLDERS) -> list[Testsuite]:
    """Every testsuite of these dsl-v2 folders, in the folders' order."""
    return [load_suite(path) for folder in folders for path in suite_paths(folder)]
