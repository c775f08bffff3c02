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
