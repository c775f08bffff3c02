"""The gRPC side of a party: FATE's proxy ``DataTransferService.unaryCall``.

``push`` streams carry objects that other parties' tasks send to ours (the data plane, into the
mailbox). A packet of ``unaryCall`` carries a scheduling API call (body.key = path, body.value = JSON);
it is dispatched to
this server's own WSGI application in-process (FATE replays it over HTTP to itself) and the JSON
answer is returned in a packet with source and destination swapped.
"""

from __future__ import annotations

import json
import logging
from concurrent import futures

import grpc
from werkzeug.test import Client

from fate_flow.federation.transfer import MailboxPushMixin, PushAuthorizer
from fate_flow.manager.mailbox import Mailbox
from fate_flow.proto import proxy_pb2, proxy_pb2_grpc

logger = logging.getLogger("fate_flow.grpc")
# only the party-to-party APIs may arrive over the proxy channel
ALLOWED_PREFIXES = ("/v1/party/", "/v1/initiator/")


class UnaryService(MailboxPushMixin, proxy_pb2_grpc.DataTransferServiceServicer):
    """unaryCall: scheduling commands; push: objects sent by other parties' tasks into our mailbox."""

    def __init__(self, wsgi_app, mailbox: Mailbox, authorize_push: PushAuthorizer | None = None):
        self.client = Client(wsgi_app)
        self.mailbox = mailbox
        self.authorize_push = authorize_push

    def unaryCall(self, request: proxy_pb2.Packet, context: grpc.ServicerContext) -> proxy_pb2.Packet:  # noqa: N802
        """Run the packet's scheduling call through this server's own API (party and initiator paths only);
        the JSON answer comes back in a packet with source and destination swapped."""
        path = request.body.key
        method = (request.header.operator or "POST").upper()
        if not path.startswith(ALLOWED_PREFIXES):
            answer = {"retcode": 100, "retmsg": f"path {path!r} may not be called over gRPC"}
        else:
            # the sender's HTTP headers travel in the packet (FATE's shape): its signature is checked
            # by the same code as over HTTP
            response = self.client.open(path, method=method, data=request.body.value,
                                        headers=_packet_headers(request))
            try:
                answer = json.loads(response.get_data() or b"{}")
            except json.JSONDecodeError:
                answer = {"retcode": 100, "retmsg": f"non-JSON answer from {path} (HTTP {response.status_code})"}
        header = proxy_pb2.Metadata(task=request.header.task, src=request.header.dst, dst=request.header.src,
                                    command=request.header.command, operator=request.header.operator,
                                    conf=request.header.conf)
        return proxy_pb2.Packet(header=header, body=proxy_pb2.Data(key=path, value=json.dumps(answer).encode()))


def _packet_headers(packet: proxy_pb2.Packet) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    try:
        carried = json.loads(packet.header.task.model.dataKey or "{}")
    except json.JSONDecodeError:
        carried = {}
    if isinstance(carried, dict):
        headers.update({str(k): str(v) for k, v in carried.items() if isinstance(v, (str, int))})
    headers["Content-Type"] = "application/json"
    return headers


def bind_grpc_server(wsgi_app, host: str, port: int, mailbox: Mailbox, authorize_push: PushAuthorizer | None = None,
                     max_workers: int = 32) -> tuple[grpc.Server, int]:
    """The server bound to its port but not serving yet (``start()`` it); returns it and the bound port
    (``port`` 0 picks a free one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    )
    proxy_pb2_grpc.add_DataTransferServiceServicer_to_server(UnaryService(wsgi_app, mailbox, authorize_push), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the gRPC server to {host}:{port}")
    return server, bound
