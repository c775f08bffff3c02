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

from fate_flow.federation.stream_guard import PushLimits, StreamGuard
from fate_flow.federation.transfer import MailboxPushMixin, PushAuthorizer, PushVerifier
from fate_flow.manager.mailbox import Mailbox
from fate_flow.proto import proxy_pb2, proxy_pb2_grpc
from fate_flow.settings import Limits

logger = logging.getLogger("fate_flow.grpc")
# only the party-to-party APIs may arrive over the proxy channel
ALLOWED_PREFIXES = ("/v1/party/", "/v1/initiator/")
# where the server's WSGI application holds the push verifier: the gRPC server is bound before the keys are
# loaded (both need the final ports), so the service finds the verifier when a push arrives
PUSH_VERIFIER_KEY = "fate_flow.push_verifier"


def install_push_verifier(wsgi_app, verifier: PushVerifier) -> None:
    """Make ``verifier`` check the senders of every object pushed to the gRPC server serving ``wsgi_app``."""
    wsgi_app.extensions[PUSH_VERIFIER_KEY] = verifier


class UnaryService(MailboxPushMixin, proxy_pb2_grpc.DataTransferServiceServicer):
    """unaryCall: scheduling commands; push: objects sent by other parties' tasks into our mailbox."""

    def __init__(self, wsgi_app, mailbox: Mailbox, authorize_push: PushAuthorizer | None = None,
                 guard: StreamGuard | None = None):
        self.wsgi_app = wsgi_app
        self.client = Client(wsgi_app)
        self.mailbox = mailbox
        self.authorize_push = authorize_push
        self.push_guard = guard

    def push_verifier(self, context: grpc.ServicerContext) -> PushVerifier:
        """The server's verifier; a push that arrives before the server has its keys is refused (UNAVAILABLE:
        the sender retries), never let through unchecked."""
        verifier = getattr(self.wsgi_app, "extensions", {}).get(PUSH_VERIFIER_KEY)
        if verifier is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "this server is starting: it takes no objects yet")
        return verifier

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


def bind_grpc_server(wsgi_app, host: str, port: int, mailbox: Mailbox, limits: Limits,
                     authorize_push: PushAuthorizer | None = None, max_workers: int = 64) -> tuple[grpc.Server, int]:
    """The server bound to its port but not serving yet (``start()`` it); returns it and the bound port
    (``port`` 0 picks a free one). ``limits`` bound its messages and its push streams."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[("grpc.max_send_message_length", -1),
                 ("grpc.max_receive_message_length", int(limits.grpc_message_mb * (1 << 20)))],
    )
    guard = StreamGuard(PushLimits(max_object_bytes=int(limits.object_mb * (1 << 20)),
                                   idle_timeout_s=limits.http_timeout_s, stream_deadline_s=limits.stream_deadline_s,
                                   peer_streams=limits.peer_streams))
    service = UnaryService(wsgi_app, mailbox, authorize_push, guard)
    proxy_pb2_grpc.add_DataTransferServiceServicer_to_server(service, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the gRPC server to {host}:{port}")
    return server, bound
