"""Intersection: every method equals the plain set intersection, on a real standalone server (breast) and,
protocol by protocol, with every party in this process (what crosses the data plane inspected).

Reference: Python sets of the ids in FATE's example CSVs.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from fate_flow.components.intersection import IntersectParams
from fate_flow.components.intersection.loopback import Hub, run_parties
from fate_flow.engine.codec import MAGIC, encode
from fate_flow.errors import ParamError
from tests.jobs import FATE_DATA, component_call, job_conf, output_rows, reader_params, run_job, submit, summary, upload
from tests.support import ServerProcess

GUEST, HOST, HOST_B = "9999", "10000", "10001"
DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "intersect_0": {"module": "Intersection", "input": {"data": {"data": ["reader_0.data"]}},
                    "output": {"data": ["data"]}},
}}


def _csv(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    with path.open() as stream:
        reader = csv.reader(stream)
        header = next(reader)
        return header, {row[0]: row for row in reader}


GUEST_HEADER, GUEST_ROWS = _csv(FATE_DATA / "breast_hetero_guest.csv")
HOST_HEADER, HOST_ROWS = _csv(FATE_DATA / "breast_hetero_host.csv")
BREAST = set(GUEST_ROWS) & set(HOST_ROWS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    home = tmp_path_factory.mktemp("intersection")
    party = ServerProcess(home / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite", "FATE_FLOW_PARTY_ID": GUEST}).start()
    upload(party, FATE_DATA / "breast_hetero_guest.csv", "breast_hetero_guest")
    upload(party, FATE_DATA / "breast_hetero_host.csv", "breast_hetero_host")
    # a second host holding every third of the host's rows; a host with none of the guest's ids
    third = home / "breast_hetero_host_third.csv"
    third.write_text("\n".join([",".join(HOST_HEADER)] + [",".join(row) for row in list(HOST_ROWS.values())[::3]]))
    upload(party, third, "breast_hetero_host_third")
    stranger = home / "stranger.csv"
    stranger.write_text("id,x0\n" + "\n".join(f"s{i},{i / 10}" for i in range(50)))
    upload(party, stranger, "stranger")
    yield party
    party.stop()


def _job(server: ServerProcess, params: dict, host_tables: list[str] | None = None, dsl: dict = DSL,
         role_params: dict | None = None) -> tuple[str, str]:
    host_tables = host_tables or ["breast_hetero_host"]
    hosts = [HOST, HOST_B][:len(host_tables)]
    roles = {"guest": {"0": {"reader_0": {"table": {"name": "breast_hetero_guest", "namespace": "experiment"}}}},
             "host": {str(i): {"reader_0": {"table": {"name": t, "namespace": "experiment"}}}
                      for i, t in enumerate(host_tables)}}
    for role, extra in (role_params or {}).items():
        for index, components in extra.items():
            roles[role][index].update(components)
    conf = job_conf(GUEST, hosts, None, {"intersect_0": params}, roles)
    return run_job(server, dsl, conf, timeout=120)


def _ids(rows: list[dict]) -> set[str]:
    return {row["id"] for row in rows}


# -- on a real server ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [
    {"intersect_method": "rsa"},
    {"intersect_method": "dh", "dh_params": {"key_length": 1024, "salt": "12345"}},
    {"intersect_method": "ecdh", "ecdh_params": {"hash_method": "sm3", "salt": "12345"}},
    {"intersect_method": "raw"},  # FATE 1.11 runs raw as ecdh
], ids=["rsa", "dh", "ecdh", "raw"])
def test_each_method_equals_the_plain_intersection(server, params):
    job_id, status = _job(server, params)
    assert status == "success"
    guest_rows = output_rows(server, job_id, "intersect_0", "guest", GUEST)
    host_rows = output_rows(server, job_id, "intersect_0", "host", HOST)
    assert _ids(guest_rows) == _ids(host_rows) == BREAST and len(BREAST) == 569
    # the party's own rows pass through: every column, every value
    assert list(guest_rows[0]) == GUEST_HEADER and list(host_rows[0]) == HOST_HEADER
    assert all([row[c] for c in GUEST_HEADER] == GUEST_ROWS[row["id"]] for row in guest_rows)
    for role, party in (("guest", GUEST), ("host", HOST)):
        got = summary(server, job_id, "intersect_0", role, party)
        assert got == {"intersect_num": 569, "intersect_rate": 1.0, "cardinality_only": False, "unique_id_num": 569}


def test_multi_host_is_the_intersection_over_all_hosts(server):
    job_id, status = _job(server, {"intersect_method": "ecdh", "only_output_key": True},
                          ["breast_hetero_host", "breast_hetero_host_third"])
    assert status == "success"
    expected = BREAST & set(list(HOST_ROWS)[::3])
    assert 150 < len(expected) < 569
    for role, party in (("guest", GUEST), ("host", HOST), ("host", HOST_B)):
        rows = output_rows(server, job_id, "intersect_0", role, party)
        assert _ids(rows) == expected and list(rows[0]) == ["id"]  # only_output_key: the ids alone
        assert summary(server, job_id, "intersect_0", role, party)["intersect_num"] == len(expected)
    assert summary(server, job_id, "intersect_0", "host", HOST_B)["unique_id_num"] == len(list(HOST_ROWS)[::3])
    metric = component_call(server, "metric_data", job_id, "intersect_0", "guest", GUEST, metric_namespace="train",
                            metric_name="intersection")
    assert metric["meta"]["metric_type"] == "INTERSECTION" and metric["meta"]["intersect_method"] == "ecdh"
    points = dict(metric["data"])
    assert points["intersect_count"] == len(expected) and points["input_match_id_count"] == 569
    assert points["unmatched_count"] == 569 - len(expected)


def test_without_sync_the_host_learns_nothing(server):
    job_id, status = _job(server, {"intersect_method": "rsa", "sync_intersect_ids": False, "only_output_key": True,
                                   "rsa_params": {"key_length": 1024, "random_base_fraction": 0.5}})
    assert status == "success"
    assert _ids(output_rows(server, job_id, "intersect_0", "guest", GUEST)) == BREAST
    assert summary(server, job_id, "intersect_0", "host", HOST) == {
        "intersect_num": -1, "intersect_rate": -1, "cardinality_only": False, "unique_id_num": 569}


def test_fate_example_with_data_transform_and_cardinality(server):
    """FATE's own DSL (reader -> data transform -> intersection); exact cardinality with dh."""
    dsl = {"components": {
        "reader_0": DSL["components"]["reader_0"],
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "intersect_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                        "output": {"data": ["data"]}},
    }}
    transform = {"data_transform_0": {"with_label": False, "output_format": "dense"}}
    job_id, status = _job(server, {"intersect_method": "ecdh", "sync_intersect_ids": True, "only_output_key": True,
                                   "ecdh_params": {"hash_method": "sha256", "salt": "12345", "curve": "curve25519"}},
                          dsl=dsl, role_params={"guest": {"0": transform}, "host": {"0": transform}})
    assert status == "success"
    assert _ids(output_rows(server, job_id, "intersect_0", "host", HOST)) == BREAST
    job_id, status = _job(server, {"cardinality_only": True, "cardinality_method": "dh", "sync_cardinality": True,
                                   "dh_params": {"key_length": 1024}}, ["breast_hetero_host_third"])
    assert status == "success"
    for role, party in (("guest", GUEST), ("host", HOST)):
        got = summary(server, job_id, "intersect_0", role, party)
        assert got["intersect_num"] == len(list(HOST_ROWS)[::3]) and got["cardinality_only"] is True


@pytest.mark.parametrize("method", ["rsa", "ecdh"])
def test_a_cache_made_in_a_job_serves_its_next_intersection(server, method):
    """FATE's cache DSL: intersect_0 (run_cache) makes the cache, intersect_1 (input ``cache``) uses it."""
    dsl = {"components": {
        "reader_0": DSL["components"]["reader_0"],
        "intersect_0": {"module": "Intersection", "input": {"data": {"data": ["reader_0.data"]}},
                        "output": {"cache": ["cache"]}},
        "intersect_1": {"module": "Intersection", "input": {"data": {"data": ["reader_0.data"]},
                                                            "cache": ["intersect_0.cache"]},
                        "output": {"data": ["data"]}},
    }}
    params = {"intersect_method": method, "run_cache": True, "rsa_params": {"key_length": 1024}}
    roles = {"guest": {"0": {"reader_0": {"table": {"name": "breast_hetero_guest", "namespace": "experiment"}}}},
             "host": {"0": {"reader_0": {"table": {"name": "breast_hetero_host", "namespace": "experiment"}}}}}
    conf = job_conf(GUEST, [HOST], None, {"intersect_0": params,
                                          "intersect_1": {"intersect_method": method}}, roles)
    job_id, status = run_job(server, dsl, conf, timeout=120)
    assert status == "success"
    for role, party in (("guest", GUEST), ("host", HOST)):
        assert _ids(output_rows(server, job_id, "intersect_1", role, party)) == BREAST
        log = server.home / "logs" / job_id / role / party / "intersect_1" / "INFO.log"
        assert f"{method} intersection of 569 ids with 1 host(s) (cache)" in log.read_text()


def test_a_bad_method_is_refused_at_submit(server):
    conf = job_conf(GUEST, [HOST], None, {"intersect_0": {"intersect_method": "paillier"}},
                    reader_params("breast_hetero_guest", ["breast_hetero_host"]))
    answer = submit(server, DSL, conf)
    assert answer["retcode"] == 103 and "intersect_0" in answer["retmsg"] and "intersect_method" in answer["retmsg"]


def test_no_overlap_fails_the_task_naming_the_component(server):
    job_id, status = _job(server, {"intersect_method": "ecdh"}, ["stranger"])
    assert status == "failed"
    job = server.post("/v1/job/query", {"job_id": job_id, "role": "guest", "party_id": GUEST})["data"][0]
    assert "intersect_0" in job["f_error"] and "intersection is empty" in job["f_error"], job["f_error"]


# -- the protocols, every party in this process ----------------------------------------------------------------------
GUEST_IDS = np.array([f"u{i}" for i in range(0, 240)])
HOST_IDS = np.array([f"u{i}" for i in range(90, 420)])
HOST_B_IDS = np.array([f"u{i}" for i in range(60, 180)])

PROTOCOLS = {
    "rsa": {"intersect_method": "rsa", "rsa_params": {"key_length": 1024, "salt": "s"}},
    "rsa_split": {"intersect_method": "rsa", "rsa_params": {"key_length": 1024, "split_calculation": True}},
    "dh": {"intersect_method": "dh", "dh_params": {"key_length": 1024, "salt": "s"}},
    "ecdh": {"intersect_method": "ecdh", "ecdh_params": {"salt": "s"}},
}


def _run(params: dict, hosts: list[np.ndarray], guest_ids: np.ndarray = GUEST_IDS, caches: list | None = None):
    return run_parties(IntersectParams.parse("Intersection", params), guest_ids, hosts, cores=1, hub=Hub(timeout=60),
                       caches=caches)


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocol_equals_the_plain_intersection_over_hosts(name):
    expected = set(GUEST_IDS) & set(HOST_IDS) & set(HOST_B_IDS)
    guest, hosts, _ = _run(PROTOCOLS[name], [HOST_IDS, HOST_B_IDS])
    assert set(guest.ids) == expected and guest.count == len(expected) == 90
    assert all(set(host.ids) == expected for host in hosts)


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_what_crosses_is_neither_ids_nor_their_hashes(name):
    _, _, hub = _run(PROTOCOLS[name], [HOST_IDS])
    secrets_of = {"guest": GUEST_IDS, "host": HOST_IDS}
    for message in hub.messages:
        sender_ids = secrets_of[message.sender[0]]
        for value in map(str, sender_ids):
            for salt in ("", "s"):
                text = (value + salt).encode()
                digest = hashlib.sha256(text).digest()
                for needle in (digest, digest[::-1], digest.hex().encode(), int.from_bytes(digest, "big").to_bytes(
                        256, "little").rstrip(b"\0")):
                    assert needle not in message.data, (name, message.name, value)
            for plain in (value, value.encode()):  # an id as the codec would carry it, text or bytes
                assert encode(plain)[len(MAGIC):] not in message.data, (name, message.name, value)


@pytest.mark.parametrize("name", ["ecdh", "rsa"])
def test_work_goes_over_the_cores_only_when_it_pays_and_gives_the_same_ids(name, monkeypatch):
    """``parallel_rows`` times its first items and forks workers only when the rest costs more than
    ``min_parallel_s`` (0.1 s: 569 ids with a 1024-bit RSA key take ~0.07 s a step here, bench/hetero_lr.py);
    either way the protocol learns the same ids."""
    from fate_flow.engine.standalone import StandaloneComputing

    maps = []
    real_map = StandaloneComputing.parallel_map

    def counted(self, function, items):
        maps.append(len(items))
        return real_map(self, function, items)

    monkeypatch.setattr(StandaloneComputing, "parallel_map", counted)
    monkeypatch.setattr(StandaloneComputing, "min_parallel_s", 60.0)  # never worth it (however loaded the machine)
    expected = set(GUEST_IDS) & set(HOST_IDS)
    params = IntersectParams.parse("Intersection", PROTOCOLS[name])
    guest, hosts, _ = run_parties(params, GUEST_IDS, [HOST_IDS], cores=2, hub=Hub(timeout=60))
    assert set(guest.ids) == expected and set(hosts[0].ids) == expected
    assert maps == []
    monkeypatch.setattr(StandaloneComputing, "min_parallel_s", 0.0)
    guest, hosts, _ = run_parties(params, GUEST_IDS, [HOST_IDS], cores=2, hub=Hub(timeout=60))
    assert set(guest.ids) == expected and set(hosts[0].ids) == expected
    assert maps and all(items > 1 for items in maps)


def test_cardinality_only_and_preprocess():
    expected = set(GUEST_IDS) & set(HOST_IDS)
    for method in ("rsa", "dh", "ecdh"):
        params = {"cardinality_only": True, "cardinality_method": method, "sync_cardinality": True,
                  "dh_params": {"key_length": 1024}, "rsa_params": {"key_length": 1024}}
        guest, [host], _ = _run(params, [HOST_IDS])
        assert guest.ids is None and host.ids is None and guest.count == host.count
        if method == "rsa":  # FATE's estimate: a Bloom filter (false positive rate 1e-3) never misses a member
            assert len(expected) <= guest.count <= len(expected) + 5  # 90 outsiders: > 5 false ones ~ 1e-12
        else:
            assert guest.count == len(expected)
    for owner in ("guest", "host"):
        params = {"intersect_method": "ecdh", "run_preprocess": True,
                  "intersect_preprocess_params": {"false_positive_rate": 0.05, "filter_owner": owner}}
        guest, [host], _ = _run(params, [HOST_IDS])
        assert set(guest.ids) == set(host.ids) == expected


@pytest.mark.parametrize("name", ["rsa", "dh", "ecdh"])
def test_a_cache_serves_a_later_intersection(name):
    """run_cache keeps the host's half; a later run with other guest ids uses it and only the guest's ids cross."""
    made_guest, made_hosts, _ = _run({**PROTOCOLS[name], "run_cache": True}, [HOST_IDS, HOST_B_IDS])
    assert made_guest.cache is not None and all(host.cache is not None for host in made_hosts)
    later = GUEST_IDS[::2]
    expected = set(later) & set(HOST_IDS) & set(HOST_B_IDS)
    guest, hosts, hub = _run({"intersect_method": PROTOCOLS[name]["intersect_method"]}, [HOST_IDS, HOST_B_IDS],
                             guest_ids=later, caches=[made_guest, *made_hosts])
    assert set(guest.ids) == expected and all(set(host.ids) == expected for host in hosts)
    assert {m.name for m in hub.messages if m.sender[0] == "host"} <= {
        "cache_id", "guest_ciphertexts_twice", "host_signed_guest_ids"}


@pytest.mark.parametrize(("params", "field"), [
    ({"intersect_method": "md5"}, "intersect_method"),
    ({"sync_intersect_ids": 1}, "sync_intersect_ids"),
    ({"rsa_params": {"key_length": 512}}, "rsa_params.key_length"),
    ({"dh_params": {"hash_method": "sha3"}}, "dh_params.hash_method"),
    ({"ecdh_params": {"curve": "p256"}}, "ecdh_params.curve"),
    ({"cardinality_only": True, "cardinality_method": "raw"}, "cardinality_method"),
    ({"run_preprocess": True, "intersect_preprocess_params": {"false_positive_rate": 0.001}},
     "intersect_preprocess_params"),
    ({"join_method": "left_join", "sync_intersect_ids": False}, "join_method"),
    ({"run_cache": True, "intersect_method": "rsa", "rsa_params": {"split_calculation": True}}, "run_cache"),
    ({"run_cache": True, "cardinality_only": True}, "run_cache"),
    ({"with_sample_ids": True}, "with_sample_ids"),
])
def test_fate_checks_name_the_field(params, field):
    with pytest.raises(ParamError) as error:
        IntersectParams.parse("Intersection", params)
    assert error.value.field == field


def test_fate_rewrites_and_deprecated_names():
    assert IntersectParams.parse("I", {"intersect_method": "RAW"}).intersect_method == "ecdh"
    assert IntersectParams.parse("I", {"random_bit": 64}).rsa_params.random_bit == 64
    moved = IntersectParams.parse("I", {"with_encode": True, "encode_params": {"encode_method": "SHA256"}})
    assert moved.raw_params.use_hash is True and moved.raw_params.hash_method == "sha256"
    with pytest.raises(ParamError):
        IntersectParams.parse("I", {"random_bit": 64, "rsa_params": {"random_bit": 64}})


def test_dh_groups_are_the_rfc_safe_primes():
    import gmpy2

    from fate_flow.components.intersection.ciphers import modp_prime

    p = modp_prime(2048)  # RFC 3526 §3 ends in ...15728E5A 8AACAA68 FFFFFFFF FFFFFFFF
    assert format(p, "X").endswith("15728E5A8AACAA68FFFFFFFFFFFFFFFF") and p.bit_length() == 2048
    for bits in (1024, 2048):
        p = modp_prime(bits)
        assert gmpy2.is_prime(p, 30) and gmpy2.is_prime((p - 1) // 2, 30)


def test_bloom_filter_holds_its_elements_at_the_asked_rate():
    from fate_flow.components.intersection.bloom import BloomFilter

    members = [f"m{i}".encode() for i in range(5000)]
    bloom = BloomFilter.from_wire(BloomFilter.build(members, 0.01, "sha256").to_wire())
    assert bloom.contains(members).all()
    assert bloom.contains([f"n{i}".encode() for i in range(20000)]).mean() < 0.02


def test_what_a_peer_sends_is_checked():
    from fate_flow.components.intersection.ciphers import ModpCipher, X25519Cipher
    from fate_flow.components.intersection.hashing import check_positions, match
    from fate_flow.components.intersection.rsa import PrivateKey, sign_rows
    from fate_flow.engine.standalone import StandaloneComputing
    from fate_flow.errors import ComponentError

    computing = StandaloneComputing(1)
    low_order = np.zeros((1, 32), dtype=np.uint8)  # u = 0: a point of order 1 (the shared secret would be 0)
    with pytest.raises(ComponentError, match="low order"):
        X25519Cipher("sha256", "").reencrypt(computing, "guest_ciphertexts", low_order)
    dh = ModpCipher(1024, "sha256", "")
    minus_one = np.frombuffer((dh.p - 1).to_bytes(dh.width, "little"), dtype=np.uint8).reshape(1, -1)
    with pytest.raises(ComponentError, match="outside the group"):  # p - 1 has order 2
        dh.reencrypt(computing, "guest_ciphertexts", minus_one)
    with pytest.raises(ComponentError, match="not 128-byte rows"):
        dh.reencrypt(computing, "guest_ciphertexts", np.zeros((2, 32), dtype=np.uint8))
    key = PrivateKey.generate(1024)
    too_big = np.full((1, key.public.width), 255, dtype=np.uint8)
    with pytest.raises(ComponentError, match=r"outside \(0, n\)"):
        sign_rows(computing, key, "guest_blinded_ids", too_big)
    with pytest.raises(ComponentError):
        check_positions("intersect_positions", np.array([3, 3]), 10)
    # rows sharing their first 8 bytes are paired only when equal whole
    a = np.zeros((2, 32), dtype=np.uint8)
    b = a.copy()
    b[0, 31] = 1
    assert [x.tolist() for x in match(a[:1], b)] == [[0], [1]]


def test_match_ids_are_intersected_and_rows_keyed_by_the_guests_sample_ids(server):
    """Tables uploaded with ``extend_sid`` (a generated sample id per row, the file's id kept as a column) and
    DataTransform's ``with_match_id``: the parties intersect the match ids; the host's rows come out under the
    guest's sample ids, each beside the guest's row of the same match id."""
    upload(server, FATE_DATA / "breast_hetero_guest.csv", "breast_guest_sid", extend_sid=True)
    upload(server, FATE_DATA / "breast_hetero_host.csv", "breast_host_sid", extend_sid=True)
    dsl = {"components": {
        "reader_0": DSL["components"]["reader_0"],
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "intersect_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                        "output": {"data": ["data"]}},
    }}
    roles = {"guest": {"0": {"reader_0": {"table": {"name": "breast_guest_sid", "namespace": "experiment"}},
                             "data_transform_0": {"with_label": True, "with_match_id": True}}},
             "host": {"0": {"reader_0": {"table": {"name": "breast_host_sid", "namespace": "experiment"}},
                            "data_transform_0": {"with_label": False, "with_match_id": True}}}}
    job_id, status = run_job(server, dsl, job_conf(GUEST, [HOST], None, {"intersect_0": {"intersect_method": "ecdh"}},
                                                   roles), timeout=120)
    assert status == "success", job_id
    guest = {r["sid"] if "sid" in r else r[next(iter(r))]: r for r in output_rows(server, job_id, "intersect_0",
                                                                                 "guest", GUEST)}
    host = {r["sid"] if "sid" in r else r[next(iter(r))]: r for r in output_rows(server, job_id, "intersect_0",
                                                                                "host", HOST)}
    assert len(guest) == 569 and set(guest) == set(host)
    assert not set(guest) & BREAST  # generated sample ids, not the files' ids
    for sid, row in guest.items():
        assert row["id"] == host[sid]["id"]  # the same match id (the file's id) on both sides


def test_an_rsa_key_holder_proves_its_exponent_and_the_guest_blinds_with_full_length_randomness():
    """Two weaknesses of FATE's RSA intersection, not copied (a review demonstrated both): a key holder with
    ``e | p - 1`` reads the e-th power residue symbol of each blinded id, a fingerprint of every guest id; and
    with ``r`` of ``random_bit`` bits it confirms a guessed id x' when ``B^d / H(x')^d`` is small. The key
    comes with e-th roots of hashed challenges, and every id gets a fresh ``r`` uniform mod n."""
    import gmpy2

    from fate_flow.components.intersection.rsa import PUBLIC_EXPONENT, PrivateKey, PublicKey, blind
    from fate_flow.engine.standalone import StandaloneComputing
    from fate_flow.errors import ComponentError

    honest, other = PrivateKey.generate(1024), PrivateKey.generate(1024)
    assert PublicKey.proven(honest.public.to_wire(), honest.proof()) == honest.public
    with pytest.raises(ComponentError, match="key proof fails"):
        PublicKey.proven(other.public.to_wire(), honest.proof())
    for e in (3, PUBLIC_EXPONENT * 3):  # too small; not a prime
        with pytest.raises(ComponentError, match="not acceptable"):
            PublicKey.from_wire({"e": e, "n": int(honest.public.n)})
    # e | p - 1: accepted by the plain checks, refused for want of a proof nobody can make
    e, k = gmpy2.mpz(PUBLIC_EXPONENT), gmpy2.mpz(1) << 495
    while not gmpy2.is_prime(2 * e * k + 1):
        k += 1
    p = 2 * e * k + 1
    q = gmpy2.next_prime(gmpy2.mpz(1) << 511 | gmpy2.mpz(1) << 510)
    weak = {"e": PUBLIC_EXPONENT, "n": int(p * q)}
    assert PublicKey.from_wire(weak).e == PUBLIC_EXPONENT
    with pytest.raises(ZeroDivisionError):  # its owner has no e-th roots to give
        gmpy2.invert(e, (p - 1) * (q - 1))
    with pytest.raises(ComponentError, match="key proof fails"):
        PublicKey.proven(weak, honest.proof())
    # full-length, distinct r per id, and B = r^e x mod n
    values = list(range(2, 202))
    blinded, r = blind(StandaloneComputing(1), honest.public, values)
    n = honest.public.n
    rs = [int.from_bytes(bytes(row), "little") for row in r]
    assert len(set(rs)) == len(rs) and sum(x.bit_length() > 1000 for x in rs) > 190
    for row, r_i, x in zip(blinded[:5], rs, values, strict=False):
        assert int.from_bytes(bytes(row), "little") == pow(r_i, PUBLIC_EXPONENT, n) * x % n
