"""Which keys a settings tree may hold: this server's, and FATE's own (so that a party's existing
``service_conf.yaml`` and ``job_default_config.yaml`` load unchanged). Anything else is a typo
(``http_prot``) and is refused with its path and where it was written, instead of silently ignored.
"""

from __future__ import annotations

from typing import Any

ANY = "*any*"  # a value whose inner keys are not checked (a map of party ids, an engine section we ignore)
EACH = "*each*"  # the schema of every entry of a map (route_table: party id -> route)

_ROUTE = {"host": ANY, "http_port": ANY, "grpc_port": ANY, "public_key": ANY}
JOB_DEFAULT_KEYS = {
    # this server's
    "task_parallelism", "task_cores", "max_cores_percent_per_job", "job_timeout", "remote_request_timeout",
    "auto_retries", "output_data_summary_count_limit", "scheduler_interval", "detector_interval",
    "status_pull_after", "party_unreachable_after",
    # FATE's job_default_config.yaml, accepted (not used here)
    "federated_command_trys", "end_status_job_scheduling_time_limit", "end_status_job_scheduling_updates",
    "auto_retry_delay", "federated_status_collect_type", "detect_connect_max_retry_count",
    "detect_connect_long_retry_count", "task_memory", "max_memory_percent_per_job", "task_world_size",
    "resource_waiting_timeout", "upload_block_max_bytes", "model_store_address", "default_component_provider_path",
    "remote_request_timeout_max",
}
SCHEMA: dict[str, Any] = {
    "party_id": ANY,
    "fateflow": {"host": ANY, "http_port": ANY, "grpc_port": ANY, "http_threads": ANY, "executor_fork_server": ANY,
                 "protocol": ANY, "nginx": ANY, "random_instance_id": ANY, "proxy": ANY},
    "database": {"engine": ANY, "name": ANY, "user": ANY, "passwd": ANY, "host": ANY, "port": ANY,
                 "max_connections": ANY, "stale_timeout": ANY},
    "default_engines": {"computing": ANY, "federation": ANY, "storage": ANY},
    "fate_on_standalone": {"standalone": {"cores_per_node": ANY, "nodes": ANY}},
    "fate_on_eggroll": ANY,
    # FATE's sections; rabbitmq is this server's federation engine "rabbitmq" (the others are not used)
    "fate_on_spark": {"spark": ANY, "linkis_spark": ANY, "hive": ANY, "linkis_hive": ANY, "hdfs": ANY,
                      "pulsar": ANY, "nginx": ANY,
                      "rabbitmq": {"host": ANY, "mng_port": ANY, "port": ANY, "user": ANY, "password": ANY,
                                   "route_table": ANY, "mode": ANY, "max_message_size": ANY}},
    "fateboard": {"host": ANY, "port": ANY},
    "board": {"enabled": ANY, "auth": {"user": ANY, "password_hash": ANY}, "session_hours": ANY},
    "components": {"modules": ANY},
    "limits": {key: ANY for key in ("json_body_mb", "page_size", "http_timeout_s", "http_backlog", "grpc_message_mb",
                                    "object_mb", "stream_deadline_s", "peer_streams", "model_archive_mb",
                                    "model_archive_entries")},
    "route_table": {EACH: _ROUTE},
    "authentication": {"site": {"switch": ANY, "mode": ANY, "private_key_file": ANY, "keys": ANY,
                                "max_clock_skew": ANY},
                       "client": {"switch": ANY, "http_app_key": ANY, "http_secret_key": ANY}},
    "data_access": {"allowed_dirs": ANY},
    "job_default": {key: ANY for key in JOB_DEFAULT_KEYS},
    # FATE's service_conf.yaml keys this server accepts and does not use
    "use_registry": ANY, "use_deserialize_safe_module": ANY, "dependent_distribution": ANY,
    "encrypt_password": ANY, "encrypt_module": ANY, "private_key": ANY, "private_key_file": ANY,
    "hook_module": ANY, "hook_server_name": ANY, "permission": ANY, "zookeeper": ANY, "enable_model_store": ANY,
    "model_store_address": ANY, "servings": ANY, "fatemanager": ANY, "studio": ANY,
}


def unknown_keys(tree: Any, schema: Any = None, path: str = "") -> list[str]:
    """Dotted paths of the keys in ``tree`` that ``schema`` (SCHEMA by default) does not know."""
    schema = SCHEMA if schema is None else schema
    if schema == ANY or not isinstance(tree, dict) or not isinstance(schema, dict):
        return []
    found = []
    for key, value in tree.items():
        inner = schema.get(EACH, schema.get(str(key)))
        where = f"{path}.{key}" if path else str(key)
        if inner is None:
            found.append(where)
        else:
            found.extend(unknown_keys(value, inner, where))
    return found


def known_keys(path: str) -> list[str]:
    """The keys the section at dotted ``path`` may hold (for an error message)."""
    node: Any = SCHEMA
    for part in [p for p in path.split(".")[:-1] if p]:
        node = node.get(EACH, node.get(part)) if isinstance(node, dict) else None
    return sorted(k for k in node if k not in (EACH,)) if isinstance(node, dict) else []
