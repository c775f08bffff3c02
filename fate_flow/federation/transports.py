"""Calls to another party's server: HTTP, or gRPC in FATE's proxy Packet shape; signed, audited,
bounded in time, retried (with backoff) only when the connection could not be made."""

from __future__ import annotations

import json
import logging
import threading
import time

import grpc
import requests

from fate_flow.errors import RetCode
from fate_flow.federation.client import PartyCall
from fate_flow.federation.signing import KeyRing
from fate_flow.log import audit_logger
from fate_flow.proto import proxy_pb2, proxy_pb2_grpc
from fate_flow.settings import Federation

CONNECT_TRIES = 3
BACKOFF_S = (0.2, 0.6)
logger = logging.getLogger("fate_flow.federation")


def _job_id(path: str) -> str:
    parts = path.split("/")
    return parts[3] if len(parts) > 3 else ""


def _error(retcode: RetCode, message: str) -> dict:
    return {"retcode": int(retcode), "retmsg": message}


class RemoteTransport:
    def __init__(self, federation: Federation, own_party_id: str, own_host: str, own_grpc_port: int,
                 keys: KeyRing | None = None):
        """``keys`` sign the calls when site authentication is on (``federation.site_auth``)."""
        self.federation = federation
        self.keys = keys
        self.own_party_id = own_party_id
        self.own_host, self.own_grpc_port = own_host, own_grpc_port
        self.session = requests.Session()
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def _headers(self, call: PartyCall, body: bytes) -> dict[str, str] | dict:
        headers = {"Content-Type": "application/json", "SRC-PARTY-ID": self.own_party_id,
                   "DEST-PARTY-ID": call.party_id, "DEST-ROLE": call.role, "SERVICE": "fateflow"}
        if self.federation.site_auth:
            signed = self.keys.sign("POST", call.path, body, call.party_id) if self.keys else None
            if signed is None:
                return {}
            headers.update(signed)
        return headers

    def send(self, call: PartyCall, timeout: float) -> dict:
        """The party's answer envelope, over HTTP or gRPC as configured and signed when site auth is on;
        every failure comes back as an error envelope, never raised. Each call is audited."""
        route = self.federation.route(call.party_id)
        if route is None:
            return _error(RetCode.FEDERATED_ERROR, f"no route to party {call.party_id} ({call.role}): "
                                                   "add it to route_table in service_conf.yaml")
        body = json.dumps(call.body).encode()
        headers = self._headers(call, body)
        if not headers:
            return _error(RetCode.AUTHENTICATION_ERROR, f"no key to sign calls to party {call.party_id}: "
                                                        "add it to authentication.site.keys")
        started = time.monotonic()
        if self.federation.protocol == "grpc":
            answer = self._grpc(f"{route.host}:{route.grpc_port}", call, body, headers, timeout)
        else:
            answer = self._http(f"http://{route.host}:{route.http_port}{call.path}", call, body, headers, timeout)
        audit_logger(_job_id(call.path)).info(
            "%s %s -> %s %s (%s): retcode %s in %.0f ms", self.federation.protocol, call.path, call.role,
            call.party_id, route.host, answer.get("retcode"), (time.monotonic() - started) * 1000)
        return answer

    def _http(self, url: str, call: PartyCall, body: bytes, headers: dict, timeout: float) -> dict:
        for attempt in range(CONNECT_TRIES):
            try:
                response = self.session.post(url, data=body, headers=headers, timeout=(min(3.0, timeout), timeout))
                return response.json()
            except requests.ConnectionError as exc:
                error = f"party {call.party_id} ({call.role}) is unreachable at {url.split('/v1')[0]}: {exc}"
                if attempt + 1 < CONNECT_TRIES:
                    time.sleep(BACKOFF_S[attempt])
            except requests.Timeout:
                return _error(RetCode.FEDERATED_ERROR, f"party {call.party_id} ({call.role}) did not answer "
                                                       f"{call.path} within {timeout:g} s")
            except ValueError:
                return _error(RetCode.FEDERATED_ERROR, f"party {call.party_id} answered {call.path} with non-JSON "
                                                       f"(HTTP {response.status_code})")
        return _error(RetCode.CONNECTION_ERROR, error)

    def _channel(self, target: str) -> grpc.Channel:
        with self._lock:
            if target not in self._channels:
                self._channels[target] = grpc.insecure_channel(target, options=[
                    ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)])
            return self._channels[target]

    def _packet(self, call: PartyCall, body: bytes, headers: dict, timeout: float) -> proxy_pb2.Packet:
        job_id = _job_id(call.path)
        header = proxy_pb2.Metadata(
            task=proxy_pb2.Task(taskId=job_id, model=proxy_pb2.Model(name="headers", dataKey=json.dumps(headers))),
            src=proxy_pb2.Topic(name=job_id, partyId=self.own_party_id, role="fateflow",
                                callback=proxy_pb2.Endpoint(ip=self.own_host, port=self.own_grpc_port)),
            dst=proxy_pb2.Topic(name=job_id, partyId=call.party_id, role="fateflow"),
            command=proxy_pb2.Command(name=call.path), operator="POST",
            conf=proxy_pb2.Conf(overallTimeout=int(timeout * 1000)))
        return proxy_pb2.Packet(header=header, body=proxy_pb2.Data(key=call.path, value=body))

    def _grpc(self, target: str, call: PartyCall, body: bytes, headers: dict, timeout: float) -> dict:
        stub = proxy_pb2_grpc.DataTransferServiceStub(self._channel(target))
        metadata = (("service", "fateflow"), ("src-party-id", self.own_party_id), ("dest-party-id", call.party_id))
        for attempt in range(CONNECT_TRIES):
            try:
                answer = stub.unaryCall(self._packet(call, body, headers, timeout), timeout=timeout, metadata=metadata)
                return json.loads(answer.body.value or b"{}")
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return _error(RetCode.FEDERATED_ERROR, f"party {call.party_id} ({call.role}) did not answer "
                                                           f"{call.path} within {timeout:g} s")
                error = f"party {call.party_id} ({call.role}) is unreachable at {target}: {exc.code().name}"
                if attempt + 1 < CONNECT_TRIES:
                    time.sleep(BACKOFF_S[attempt])
            except ValueError:
                return _error(RetCode.FEDERATED_ERROR, f"party {call.party_id} answered {call.path} with non-JSON")
        return _error(RetCode.CONNECTION_ERROR, error)

    def close(self) -> None:
        """Close the HTTP session and every gRPC channel to other parties."""
        self.session.close()
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
