from __future__ import annotations

from pathlib import Path

import pytest

from fate_flow.settings import SettingsError, load_settings


def test_defaults_from_repo_conf(tmp_path: Path):
    settings = load_settings(home=tmp_path, environ={})
    assert settings.http_port == 9380 and settings.grpc_port == 9360 and settings.host == "127.0.0.1"
    assert settings.database.engine == "sqlite" and settings.database.sqlite_path.parent == tmp_path
    assert settings.total_cores == 20 and settings.job.task_cores == 4


def test_yaml_then_local_then_env(tmp_path: Path):
    conf = tmp_path / "service_conf.yaml"
    conf.write_text("party_id: 10000\nfateflow: {host: 127.0.0.1, http_port: 9400, grpc_port: 9401}\n"
                    "database: {engine: mysql, name: fate, user: u, passwd: p, host: db, port: 3307,"
                    " max_connections: 5, stale_timeout: 10}\n")
    (tmp_path / "local.service_conf.yaml").write_text("fateflow: {host: 127.0.0.2, http_port: 9500, grpc_port: 9501}\n")
    env = {"FATE_FLOW_FATEFLOW__HTTP_PORT": "9600", "FATE_FLOW_PARTY_ID": "10001",
           "FATE_FLOW_JOB_DEFAULT__TASK_CORES": "2"}
    settings = load_settings(conf, tmp_path / "h", environ=env)
    assert settings.host == "127.0.0.2" and settings.http_port == 9600 and settings.grpc_port == 9501
    assert settings.party_id == "10001" and settings.job.task_cores == 2
    assert settings.database.engine == "mysql" and settings.database.port == 3307
    assert settings.database.max_connections == 5 and settings.database.stale_timeout == 10


def test_bad_settings_name_the_problem(tmp_path: Path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.yaml", tmp_path, environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("fateflow: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad, tmp_path, environ={})
    with pytest.raises(SettingsError, match="http_port"):
        load_settings(home=tmp_path, environ={"FATE_FLOW_FATEFLOW__HTTP_PORT": "abc"})
    with pytest.raises(SettingsError, match="database.engine"):
        load_settings(home=tmp_path, environ={"FATE_FLOW_DATABASE__ENGINE": "oracle"})


def test_a_misspelt_setting_is_refused_naming_it_and_where(tmp_path: Path):
    conf = tmp_path / "service_conf.yaml"
    conf.write_text("party_id: 9999\nfateflow: {host: 127.0.0.1, http_prot: 9400}\n")
    with pytest.raises(SettingsError, match=r"unknown setting fateflow\.http_prot in .*service_conf\.yaml.*http_port"):
        load_settings(conf, tmp_path, environ={})
    with pytest.raises(SettingsError, match="unknown setting databse in the environment variable FATE_FLOW_DATABSE__"):
        load_settings(home=tmp_path, environ={"FATE_FLOW_DATABSE__HOST": "db"})
    with pytest.raises(SettingsError, match=r"unknown setting route_table\.10000\.grpc in"):
        load_settings(home=tmp_path, environ={"FATE_FLOW_ROUTE_TABLE": '{"10000": {"host": "h", "grpc": 1}}'})
    (tmp_path / "job_default_config.yaml").write_text("task_cores: 2\ntask_corse: 3\n")
    conf.write_text("party_id: 9999\n")
    with pytest.raises(SettingsError, match=r"unknown setting job_default\.task_corse in .*job_default_config"):
        load_settings(conf, tmp_path, environ={})


def test_fate_service_conf_keys_are_accepted(tmp_path: Path):
    """A party's FATE service_conf.yaml loads unchanged: FATE's keys this server does not use are accepted."""
    conf = tmp_path / "service_conf.yaml"
    conf.write_text(
        "use_registry: false\nuse_deserialize_safe_module: false\ndependent_distribution: false\n"
        "encrypt_password: false\nencrypt_module: fate_arch.common.encrypt_utils#pwdecrypt\nprivate_key:\n"
        "party_id: 9999\nhook_module: {client_authentication: x, site_authentication: y, permission: z}\n"
        "authentication: {client: {switch: false, http_app_key: '', http_secret_key: ''}, site: {switch: false}}\n"
        "permission: {switch: false, component: false, dataset: false}\n"
        "fateflow: {host: 127.0.0.1, http_port: 9380, grpc_port: 9360, nginx: {host: '', http_port: '', "
        "grpc_port: ''}, random_instance_id: false, proxy: rollsite, protocol: default}\n"
        "database: {name: fate_flow, user: fate, passwd: fate, host: 127.0.0.1, port: 3306, max_connections: 100, "
        "stale_timeout: 30}\n"
        "zookeeper: {hosts: [127.0.0.1:2181], use_acl: false}\n"
        "default_engines: {computing: standalone, federation: standalone, storage: standalone}\n"
        "fate_on_standalone: {standalone: {cores_per_node: 20, nodes: 1}}\n"
        "fate_on_eggroll: {clustermanager: {cores_per_node: 16, nodes: 1}, rollsite: {host: 127.0.0.1, port: 9370}}\n"
        "fate_on_spark: {spark: {home: '', cores_per_node: 20, nodes: 2}}\n"
        "fateboard: {host: 127.0.0.1, port: 8080}\nenable_model_store: false\n"
        "model_store_address: {storage: mysql}\nservings: {hosts: [127.0.0.1:8000]}\n"
        "fatemanager: {host: 127.0.0.1, port: 8001, federatedId: 0}\n")
    (tmp_path / "job_default_config.yaml").write_text(
        "job_timeout: 259200\nremote_request_timeout: 30000\nfederated_command_trys: 3\n"
        "end_status_job_scheduling_time_limit: 300000\nend_status_job_scheduling_updates: 1\nauto_retries: 0\n"
        "auto_retry_delay: 1\nfederated_status_collect_type: PUSH\ndetect_connect_max_retry_count: 3\n"
        "detect_connect_long_retry_count: 2\ntask_parallelism: 1\ntask_cores: 4\ntask_memory: 0\n"
        "max_cores_percent_per_job: 1\noutput_data_summary_count_limit: 100\n")
    settings = load_settings(conf, tmp_path / "h", environ={"FATE_FLOW_BASE": "/data/projects/fate/fateflow"})
    assert settings.party_id == "9999" and settings.job.task_cores == 4
