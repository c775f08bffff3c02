"""Who may call what on this server: the one gate every request passes before its view.

- This server itself (in-process calls) and its own executors (the local token) may call anything; the
  executors' paths (``/v1/tracker``, ``/v1/mailbox``, a task's ``/v1/party/.../report``) take nobody else.
- Other parties call only the scheduling API, signed (``authentication.site``; on by default as soon as
  the route table names other parties), and act only on jobs they belong to: the commands to a party
  (``/v1/party/...``) come from the job's initiator only (a ``create`` from the party its runtime conf
  names as initiator, a party of that job); requests to the initiator (``/v1/initiator/...``) from a
  party of the job, and a task report only about the sender's own rows of a task the initiator started.
  A job's cores are not returned while it runs. Refusals answer 108 naming the party and what it may not
  do; a missing, wrong, stale or replayed signature answers 109.
- Clients call the public API, signed as fate-client signs when client authentication is on. The board's pages
  call it with their login session instead (when ``board.auth`` is set), every POST with the session's CSRF
  token. The board's own paths (``/board/...``) decide their access themselves (``apps/board_app.py``).
- A browser request from a page of another site (its ``Origin`` is not this server) is refused, whoever sends it:
  a web page a user visits cannot drive this party's server through the user's browser.

Every peer call is written to the audit log: the job's when the job exists here, else the server's.
"""

from __future__ import annotations

import hmac
from urllib.parse import quote, urlencode, urlsplit

from flask import request

from fate_flow.db.connection import connection
from fate_flow.db.models import Job, ModelInfo, Task
from fate_flow.entity.keys import JobKey, TaskKey
from fate_flow.entity.status import JobStatus
from fate_flow.errors import AuthenticationError, DataError, PermissionDeniedError, UnsafePathError
from fate_flow.federation.client import LOCAL_CALL
from fate_flow.federation.signing import SRC_PARTY, verify_client
from fate_flow.log import audit_logger
from fate_flow.manager.board_sessions import COOKIE, CSRF_HEADER, Session
from fate_flow.runtime import Runtime
from fate_flow.utils.paths import check_name

PEER_PREFIXES = ("/v1/party/", "/v1/initiator/")
EXECUTOR_PREFIXES = ("/v1/tracker/", "/v1/mailbox/")
EXECUTOR_ENDPOINTS = {"party.report_task"}  # an executor's report of its own task
LOCAL_TOKEN_HEADER = "X-Flow-Local-Token"
# what this party allows its partners: changed only by a signed client, or (client signing off) from this
# machine, never by a partner who can reach the port
ADMIN_PREFIXES = ("/v1/permission/",)
BOARD_PREFIX = "/board"
LOOPBACK = ("127.0.0.1", "::1")
# fate-client 1.11.3 sends multipart for an upload, signing none of its body, and for a model import, signing
# its form fields (the conf) but not the file
CLIENT_MULTIPART_PATHS = {"/v1/data/upload"}
CLIENT_SIGNED_FORM_MULTIPART = "/v1/model/import"
# what a refused peer may not do, by view (the message names it)
ACTIONS = {
    "create_job": "create it", "apply_resource": "apply for its cores", "return_resource": "return its cores",
    "start_job": "start it", "update_job": "update it", "job_status": "set its status", "stop_job": "stop it",
    "rerun_job": "rerun it", "update_parameters": "update its parameters", "clean_job": "clean it",
    "create_task_version": "create a task version", "start_task": "start a task", "task_status": "set a task status",
    "stop_task": "stop a task", "collect_task": "collect a task", "report_task": "report on its tasks",
    "query_job": "query it", "deploy_model": "deploy it", "migrate_model": "migrate it",
    "load_model": "load it",
}


def authenticate(rt: Runtime) -> None:
    """Let the request through to its view, or raise AuthenticationError (109), PermissionDeniedError (108) or
    DataError (102, a peer's command about a job this server does not hold)."""
    if request.environ.get(LOCAL_CALL) or _has_local_token(rt):
        return
    _refuse_cross_site()
    if request.path == "/" or request.path.startswith(BOARD_PREFIX + "/") or request.path == BOARD_PREFIX:
        return  # the board's pages and login: apps/board_app.py
    if request.path.startswith(EXECUTOR_PREFIXES) or request.endpoint in EXECUTOR_ENDPOINTS:
        raise AuthenticationError(f"only this server's own executors (with its local token) may call {request.path}")
    if request.path.startswith(PEER_PREFIXES):
        _admit_peer(rt)
    elif not request.path.startswith(ADMIN_PREFIXES) and board_session(rt) is not None:
        return
    elif request.path.startswith(ADMIN_PREFIXES) and not rt.settings.federation.client_auth:
        _admit_administrator()
    elif rt.settings.federation.client_auth:
        federation = rt.settings.federation
        query = request.query_string.decode()
        signed_body, signed_form = client_signed_parts()
        verify_client(request.headers, request.path + (f"?{query}" if query else ""), signed_body, signed_form,
                      federation.client_keys, federation.max_clock_skew, rt.client_nonces)


def _refuse_cross_site() -> None:
    """A browser says where the page that sent a request came from: refuse other sites' pages."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise AuthenticationError(f"a page of another site ({origin[:100]}) may not call this server")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise AuthenticationError("a page of another site may not call this server")


def board_session(rt: Runtime) -> Session | None:
    """The board's login session this request carries (None without one); AuthenticationError when it changes
    something (POST ...) without the session's CSRF token."""
    return rt.board_sessions.of_request(request.cookies.get(COOKIE), request.method, request.headers.get(CSRF_HEADER))


def _admit_administrator() -> None:
    if request.remote_addr not in LOOPBACK:
        raise AuthenticationError(f"{request.path} is for this party's operators: call it from this machine, or "
                                  "turn client signing on (authentication.client)")


def _has_local_token(rt: Runtime) -> bool:
    return hmac.compare_digest(request.headers.get(LOCAL_TOKEN_HEADER, "").encode(), rt.local_token.encode())


# ------------------------------------------------------------------------------------------ peers


def _admit_peer(rt: Runtime) -> None:
    """Authenticate the calling party, then check that it may do this; audited either way."""
    job_id = str((request.view_args or {}).get("job_id") or "")
    with connection():
        try:
            source = peer_party(rt)
            authorize_peer(rt, source)
        except (AuthenticationError, PermissionDeniedError, DataError) as exc:
            audit_logger("").warning("refused %s %s from %s: %s", request.method, request.path,
                                     _claimed_party(), exc.message)
            raise
        audit_logger(job_id if _is_job_here(job_id) else "").info(
            "received %s %s from party %s (%s)", request.method, request.path, source, request.remote_addr)


def _claimed_party() -> str:
    claimed = request.headers.get(SRC_PARTY) or request.headers.get("SRC-PARTY-ID") or "?"
    return f"party {claimed[:50]!r} ({request.remote_addr})"


def peer_party(rt: Runtime) -> str:
    """The party calling: proven by its signature, or, where this party turned signing off, as it claims."""
    federation = rt.settings.federation
    if federation.site_auth:
        return rt.key_ring.verify(request.headers, request.method, request.path, request.get_data(cache=True),
                                   rt.site_nonces)
    if rt.settings.federation_engine == "standalone":
        # this server plays every party of its jobs itself: a call from outside is nobody's
        raise AuthenticationError(f"this server runs standalone (default_engines.federation): it takes no calls "
                                  f"from other parties ({request.path})")
    return request.headers.get("SRC-PARTY-ID") or request.headers.get(SRC_PARTY) or "?"


def _is_job_here(job_id: str) -> bool:
    """Whether ``job_id`` is a safe directory name and a job of this server (its log directory may be used)."""
    try:
        check_name("job_id", job_id)
    except UnsafePathError:
        return False
    return Job.select().where(Job.f_job_id == job_id).exists()


def authorize_peer(rt: Runtime, source: str) -> None:
    """What party ``source`` asks of this server must concern a job it belongs to, and only what its place
    in that job allows; PermissionDeniedError (108) naming the party and what it may not do."""
    if request.url_rule is None or not request.endpoint:
        return  # no such route: the 404 says so
    blueprint, view = request.endpoint.split(".", 1)
    args = {k: str(v) for k, v in (request.view_args or {}).items()}
    if blueprint == "party":
        _authorize_party_command(rt, source, view, args)
    elif blueprint == "initiator":
        _authorize_initiator_request(source, view, args)
    else:  # pragma: no cover (the peer prefixes are these two blueprints)
        raise PermissionDeniedError(f"party {source} may not call {request.path}")


def _action(view: str) -> str:
    return ACTIONS.get(view, view.replace("_", " "))


def _parties(roles: dict | None) -> set[str]:
    return {str(p) for ids in (roles or {}).values() if isinstance(ids, list) for p in ids}


def _authorize_party_command(rt: Runtime, source: str, view: str, args: dict[str, str]) -> None:
    """``/v1/party/<job>/<role>/<party>/...``: the job's initiator's commands to one of this server's parties."""
    job_id, role, party_id = args["job_id"], args["role"], args["party_id"]
    if not rt.is_local_party(role, party_id):
        raise PermissionDeniedError(f"party {source} addressed {role} {party_id} of job {job_id}, which this server "
                                    "does not serve")
    if view == "create_job":
        _authorize_create(source, job_id, role, party_id)
        return
    if view in ("deploy_model", "migrate_model", "load_model"):
        _authorize_model_command(source, view, role, party_id)
        return
    job = Job.find(JobKey(job_id, role, party_id))
    if job is None:
        raise DataError(f"no job {job_id} for {role} {party_id} on this server")
    if str(job.f_initiator_party_id) != source:
        raise PermissionDeniedError(f"party {source} is not the initiator of job {job_id} (party "
                                    f"{job.f_initiator_party_id} is): it may not {_action(view)} at {role} {party_id}")
    if view == "return_resource" and job.f_status == JobStatus.RUNNING.value:
        raise PermissionDeniedError(f"job {job_id} is running at {role} {party_id}: party {source} may not return "
                                    "its cores while it runs")


def _authorize_create(source: str, job_id: str, role: str, party_id: str) -> None:
    """A create comes from the party its runtime conf names as initiator, itself a party of the job, for a
    party the conf names; a job this server already holds only from that job's initiator."""
    posted = request.get_json(force=True, silent=True)
    conf = posted.get("runtime_conf") if isinstance(posted, dict) else None
    conf = conf if isinstance(conf, dict) else {}
    initiator = conf.get("initiator") if isinstance(conf.get("initiator"), dict) else {}
    roles = conf.get("role") if isinstance(conf.get("role"), dict) else {}
    named = str(initiator.get("party_id", ""))
    if named != source:
        raise PermissionDeniedError(f"party {source} may not create job {job_id}: its runtime conf names party "
                                    f"{named or '?'} as initiator")
    if source not in {str(p) for p in roles.get(str(initiator.get("role", "")), []) or []}:
        raise PermissionDeniedError(f"party {source} may not create job {job_id}: as initiator "
                                    f"{initiator.get('role')} it must be a party of the job's roles")
    if party_id not in {str(p) for p in roles.get(role, []) or []}:
        raise PermissionDeniedError(f"party {source} may not create job {job_id} at {role} {party_id}: its runtime "
                                    "conf does not name that party")
    held = Job.select(Job.f_initiator_party_id).where(Job.f_job_id == job_id).first()
    if held is not None and str(held.f_initiator_party_id) != source:
        raise PermissionDeniedError(f"party {source} may not create job {job_id}: this server holds that job from "
                                    f"initiator {held.f_initiator_party_id}")


def _authorize_model_command(source: str, view: str, role: str, party_id: str) -> None:
    """A deploy or migrate of a party's model comes from a party of that model (one of its training job's)."""
    posted = request.get_json(force=True, silent=True)
    posted = posted if isinstance(posted, dict) else {}
    model_id, version = str(posted.get("model_id", ""))[:200], str(posted.get("model_version", ""))[:100]
    row = ModelInfo.select(ModelInfo.f_roles).where(
        (ModelInfo.f_role == role) & (ModelInfo.f_party_id == party_id) & (ModelInfo.f_model_id == model_id)
        & (ModelInfo.f_model_version == version)).first()
    if row is None:
        raise DataError(f"model {model_id!r} version {version!r} is not on this server for {role} {party_id}")
    if source not in _parties(row.f_roles):
        raise PermissionDeniedError(f"party {source} is not a party of model {model_id}: it may not {_action(view)} "
                                    f"at {role} {party_id}")


def _authorize_initiator_request(source: str, view: str, args: dict[str, str]) -> None:
    """``/v1/initiator/<job>/...``: a party of the job asks this server, its initiator; a report only about the
    sender's own rows of a task that was started."""
    job_id = args["job_id"]
    job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_is_initiator == True))  # noqa: E712
    if job is None:
        raise DataError(f"job {job_id} is unknown to its initiator")
    if source not in _parties(job.f_roles):
        raise PermissionDeniedError(f"party {source} is not a party of job {job_id}: it may not {_action(view)}")
    if view != "report_task":
        return
    role, party_id, component = args["role"], args["party_id"], args["component_name"]
    if party_id != source:
        raise PermissionDeniedError(f"party {source} may report only on its own tasks, not on {role} {party_id}'s "
                                    f"(job {job_id}, component {component})")
    task = Task.find(TaskKey(job_id, component, args["task_id"], int(args["task_version"]), role, party_id))
    if task is None:
        raise DataError(f"job {job_id} has no task {args['task_id']} version {args['task_version']} at {role} "
                        f"{party_id}")
    if task.f_status == JobStatus.WAITING.value:
        raise PermissionDeniedError(f"component {component} of job {job_id} was not started: party {source} may not "
                                    f"report on it")


# ------------------------------------------------------------------------------------------ clients


def _signed_form() -> bytes:
    """The form fields as fate-client signs its ``data=`` dict: sorted, URL-encoded."""
    form = sorted(request.form.items())
    return urlencode(form, quote_via=quote, safe="-._~").encode() if form else b""


def client_signed_parts() -> tuple[bytes, bytes]:
    """What fate-client 1.11.3 signs of this request (``flow_sdk/client/base.py``): ``(body, form)``.

    It signs the JSON body it sends when it was given a non-empty ``json=`` and nothing for ``json={}`` (it
    still sends ``{}``); a ``data=`` dict as its sorted, URL-encoded form (also the form fields of a model
    import's multipart body); and nothing of an upload's multipart body (its conf travels, signed, in the
    query string).
    """
    if request.mimetype == "multipart/form-data":
        if request.path == CLIENT_SIGNED_FORM_MULTIPART:  # model import: the conf as form fields, signed
            return b"", _signed_form()
        if request.path not in CLIENT_MULTIPART_PATHS:
            raise AuthenticationError(f"bad request signature: fate-client sends no multipart body to {request.path}")
        return b"", b""
    if request.mimetype == "application/x-www-form-urlencoded":
        return b"", _signed_form()
    body = request.get_data(cache=True)
    return (b"" if body == b"{}" else body), b""
