"""Pure DSL / runtime-conf handling (no DB, no Flask): validation at submit, per-party resolution,
the DAG dependency document and predict-DSL generation. ``fate_flow.dsl`` re-exports it."""

from fate_flow.dsl.parser import (
    dag_dependencies,
    glm_role_conflict,
    parse_job,
    party_component_parameters,
    party_job_parameters,
    party_need_run,
)
from fate_flow.dsl.predict import component_names, generate_predict_dsl
from fate_flow.dsl.spec import DSLComponent, DSLError, JobSpec, deep_merge

__all__ = [
    "DSLComponent",
    "DSLError",
    "JobSpec",
    "component_names",
    "dag_dependencies",
    "deep_merge",
    "generate_predict_dsl",
    "glm_role_conflict",
    "parse_job",
    "party_component_parameters",
    "party_job_parameters",
    "party_need_run",
]
