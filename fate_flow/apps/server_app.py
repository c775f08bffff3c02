"""/v1/server and /v1/version: versions, this instance's address (the Board's log viewer), and whether the
parties of its route table can be reached (the board's party page)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow import FATE_FLOW_COMPAT_VERSION, __version__
from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, error_response, result, runtime
from fate_flow.manager.broker import probe_brokers
from fate_flow.manager.route_health import probe_routes
from fate_flow.manager.spark_state import cluster_state
from fate_flow.utils.timeutil import now_ms

server_app = Blueprint("server", __name__, url_prefix="/v1/server")
version_app = Blueprint("version", __name__, url_prefix="/v1/version")


def _versions() -> dict:
    return {"FATE": FATE_FLOW_COMPAT_VERSION, "FATEFlow": FATE_FLOW_COMPAT_VERSION,
            "FATEBoard": FATE_FLOW_COMPAT_VERSION, "FATEFlowServer": __version__}


@version_app.route("/get", methods=["POST", "GET"])
@server_app.route("/version/get", methods=["POST", "GET"])
@accepts(bodies.VersionQuery)
def get_version():
    module = body_as(bodies.VersionQuery).module
    versions = _versions()
    if module:
        if module not in versions:
            return error_response(404, f"no version for module {module}")
        return result({module: versions[module], "API": "v1"})
    return result({**versions, "API": "v1"})


@server_app.route("/fateflow/info", methods=["POST"])
def fateflow_info():
    s = runtime().settings
    return result({s.instance_id: {"instance_id": s.instance_id, "timestamp": now_ms(), "version": __version__,
                                   "host": s.host, "grpc_port": s.grpc_port, "http_port": s.http_port,
                                   # not FATE's, the board shows them: the party and its engines
                                   "party_id": s.party_id, "computing_engine": s.computing_engine,
                                   "federation_engine": s.federation_engine}})


@server_app.route("/routes", methods=["POST"])
def routes():
    settings = runtime().settings
    federation = settings.federation
    answer = {"protocol": federation.protocol, "routes": probe_routes(federation.routes, federation.protocol)}
    if settings.rabbitmq is not None:  # the data plane's brokers: this party's own, then the route table's
        answer["rabbitmq"] = probe_brokers(settings.rabbitmq, settings.party_id)
    if settings.spark is not None:  # the cluster the tasks compute on
        answer["spark"] = cluster_state(settings.spark)
    return result(answer)
