"""The server process: clean SIGTERM stop, two parties side by side, restart on the same database."""

from __future__ import annotations

import time

from tests.support import DATA, ServerProcess, upload_multipart

CONF = {"head": 1, "partition": 4, "namespace": "experiment", "table_name": "guest", "drop": 1}


def test_sigterm_stops_within_seconds(server_factory):
    server: ServerProcess = server_factory()
    started = time.time()
    assert server.stop(timeout=10) == 0
    assert time.time() - started < 5


def test_two_parties_side_by_side_with_their_own_homes(server_factory):
    guest = server_factory(name="guest", env={"FATE_FLOW_PARTY_ID": "9999"})
    host = server_factory(name="host", env={"FATE_FLOW_PARTY_ID": "10000"})
    assert guest.http_port != host.http_port and guest.grpc_port != host.grpc_port
    answer = upload_multipart(guest, CONF, DATA / "breast_hetero_guest.csv").json()
    assert guest.wait_job(answer["jobId"])["f_status"] == "success"
    assert guest.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "guest"})["data"]["exist"]
    assert not host.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "guest"})["data"]["exist"]
    assert (guest.home / "fate_flow_sqlite.db").exists() and (host.home / "fate_flow_sqlite.db").exists()


def test_restart_on_the_same_database_keeps_everything(server_factory, db_engine: str):
    server: ServerProcess = server_factory(db_engine)
    answer = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    server.wait_job(answer["jobId"])
    server.stop()
    server.start()
    assert server.post("/v1/job/query", {"job_id": answer["jobId"]})["data"][0]["f_status"] == "success"
    info = server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "guest"})["data"]
    assert info["count"] == 569
    again = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    assert server.wait_job(again["jobId"])["f_status"] == "success"


def test_mysql_connections_killed_under_the_server_are_reopened(server_factory):
    """What a MariaDB restart does to the pool: every connection dies; the next requests still work."""
    import pymysql

    from tests.support import MYSQL

    server: ServerProcess = server_factory("mysql")
    database = server.env["FATE_FLOW_DATABASE__NAME"]
    for _ in range(3):  # put several connections in the pool
        assert server.post("/v1/job/list/job", {})["retcode"] == 0
    admin = pymysql.connect(host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], password=MYSQL["passwd"],
                            autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (database,))
        victims = [row[0] for row in cursor.fetchall()]
        for victim in victims:
            cursor.execute(f"KILL {int(victim)}")
    admin.close()
    assert victims, "the server should hold pooled connections"
    for _ in range(5):
        assert server.post("/v1/job/list/job", {})["retcode"] == 0
    answer = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    assert server.wait_job(answer["jobId"])["f_status"] == "success"
