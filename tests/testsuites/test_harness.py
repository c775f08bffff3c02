"""The harness itself, without a server: fate_test's party rewriting, upload confs and job order."""

from __future__ import annotations

from tests.testsuites.suite import FATE_DATA, load_folders, rewrite_parties, set_predict_model, with_default_key_length

SUITES = {suite.folder: suite for suite in load_folders()}


def test_roles_become_fate_test_parties_by_count() -> None:
    conf = SUITES["intersect"].jobs["rsa_intersect_multi_host"].conf
    assert conf["role"]["host"] == [9999, 10000]  # as FATE's example writes it
    rewritten = rewrite_parties(conf)
    assert rewritten["role"] == {"guest": [9999], "host": [10000, 9999]}
    assert rewritten["initiator"] == {"role": "guest", "party_id": 9999}
    assert rewritten["job_parameters"]["common"]["timeout"] == 3600
    assert rewritten["component_parameters"] == conf["component_parameters"]
    assert conf["role"]["host"] == [9999, 10000]  # the suite's conf is left as it was


def test_other_party_ids_are_replaced_too() -> None:
    conf = SUITES["data_transform"].jobs["data_transform_dense"].conf
    assert conf["role"]["host"] == [9998]
    rewritten = rewrite_parties(conf, timeout=60)
    assert rewritten["role"] == {"host": [10000], "guest": [9999]}
    assert rewritten["job_parameters"]["common"]["timeout"] == 60


def test_upload_confs_keep_the_suites_options() -> None:
    weights = {entry.options["table_name"]: entry.upload_conf() for entry in SUITES["sample_weight"].data}
    assert weights["breast_hetero_host_sid"]["extend_sid"] is True
    assert weights["breast_hetero_host_sid"]["auto_increasing_sid"] is False
    assert weights["breast_hetero_host_sid"]["file"] == str(FATE_DATA / "breast_hetero_host.csv")
    assert {weights["breast_hetero_host"]["drop"], weights["breast_hetero_host"]["use_local_data"]} == {1}
    expand = {entry.options["table_name"]: entry for entry in SUITES["column_expand"].data}
    assert expand["anony_breast_hetero_guest"].upload_conf()["meta"] == {"with_label": True, "label_name": "y"}
    hosts = [entry for entry in SUITES["intersect"].data if entry.role_str.startswith("host")]
    assert [entry.party_id() for entry in hosts] == [10000, 9999]


def test_predict_jobs_follow_their_training_job_and_need_its_success() -> None:
    suite = SUITES["hetero_linear_regression"]
    order = suite.submission_order()
    assert order[-2:] == ["linr-predict", "linr-multi-host-predict"]
    assert order.index("linr-predict") > order.index("linr-train")
    without_train = suite.jobs_after(lambda name: name != "linr-train")
    assert "linr-predict" not in without_train and "linr-multi-host-predict" in without_train


def test_a_predict_conf_names_the_deployed_model() -> None:
    job = SUITES["hetero_poisson_regression"].jobs["poisson-predict"]
    conf = set_predict_model(job.submit_conf(), "model-id", "model-version")
    common = conf["job_parameters"]["common"]
    assert (common["model_id"], common["model_version"], common["job_type"]) == ("model-id", "model-version",
                                                                                 "predict")


def test_components_left_to_the_default_key_length_get_fates():
    job = SUITES["hetero_secureboost"].jobs["train_binary"]
    conf = job.submit_conf(key_length=1024)
    assert conf["component_parameters"]["common"]["hetero_secure_boost_0"]["encrypt_param"] == {
        "method": "Paillier", "key_length": 1024}
    assert "encrypt_param" not in conf["component_parameters"]["common"].get("evaluation_0", {})
    named = {**job.conf, "component_parameters": {"common": {"hetero_secure_boost_0": {
        "encrypt_param": {"key_length": 2048}}}}}
    assert with_default_key_length(named, job.modules(), 1024)["component_parameters"]["common"][
        "hetero_secure_boost_0"]["encrypt_param"] == {"key_length": 2048}
    assert "key_length" not in str(job.submit_conf())  # without the option, the conf as FATE wrote it
    # FATE 1.11.2's RSA and DH intersections default to the same 1024 bits
    assert conf["component_parameters"]["common"]["intersection_0"] == {"rsa_params": {"key_length": 1024},
                                                                         "dh_params": {"key_length": 1024}}
