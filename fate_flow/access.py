"""Who may call what on this server: the one gate every request passes before its view.

This server itself (in-process calls) and its own executors (the local token) may call anything; other
parties only the scheduling API (``/v1/party``, ``/v1/initiator``; signed when site authentication is
on); clients the public API (signed when client authentication is on).
"""

from __future__ import annotations

import hmac

from flask import request

from fate_flow.errors import AuthenticationError
from fate_flow.federation.client import LOCAL_CALL
from fate_flow.federation.signing import verify_client, verify_site
from fate_flow.log import audit_logger
from fate_flow.runtime import Runtime

PEER_PREFIXES = ("/v1/party/", "/v1/initiator/")
EXECUTOR_PREFIXES = ("/v1/tracker/", "/v1/mailbox/")
LOCAL_TOKEN_HEADER = "X-Flow-Local-Token"


def authenticate(rt: Runtime) -> None:
    """Who may call what: this server itself and its executors anything; other parties the scheduling
    API (signed, when site authentication is on); clients the public API (signed, when client
    authentication is on)."""
    if request.environ.get(LOCAL_CALL) or hmac.compare_digest(
            request.headers.get(LOCAL_TOKEN_HEADER, "").encode(), rt.local_token.encode()):
        return
    federation = rt.settings.federation
    if request.path.startswith(PEER_PREFIXES):
        source = request.headers.get("SRC-PARTY-ID", "?")
        if federation.site_auth:
            source = verify_site(request.headers, request.method, request.path, request.get_data(cache=True),
                                 federation.site_keys, federation.max_clock_skew, rt.site_nonces)
        parts = request.path.split("/")
        audit_logger(parts[3] if len(parts) > 3 else "").info("received %s %s from party %s (%s)", request.method,
                                                              request.path, source, request.remote_addr)
    elif request.path.startswith(EXECUTOR_PREFIXES):
        if federation.site_auth or federation.client_auth:
            raise AuthenticationError("only this server's own executors may call " + request.path)
    elif federation.client_auth:
        query = request.query_string.decode()
        verify_client(request.headers, request.path + (f"?{query}" if query else ""),
                      b"" if request.mimetype == "multipart/form-data" else request.get_data(cache=True),
                      {}, federation.client_keys, federation.max_clock_skew, rt.client_nonces)
