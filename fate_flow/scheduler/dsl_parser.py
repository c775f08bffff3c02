"""The DSL/conf API under its FATE-like name; the implementation lives in ``fate_flow.scheduler.dsl``."""

from fate_flow.scheduler.dsl import (
    ComponentSpec,
    DSLError,
    JobSpec,
    dag_dependencies,
    deep_merge,
    generate_predict_dsl,
    glm_role_conflict,
    parse_job,
    party_component_parameters,
    party_job_parameters,
    party_need_run,
)

__all__ = [
    "ComponentSpec",
    "DSLError",
    "JobSpec",
    "dag_dependencies",
    "deep_merge",
    "generate_predict_dsl",
    "glm_role_conflict",
    "parse_job",
    "party_component_parameters",
    "party_job_parameters",
    "party_need_run",
]
