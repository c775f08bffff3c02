"""/board: the board's pages (static files shipped in the package) and its login; ``/`` redirects there.

The pages read the same ``/v1`` API as FATE-Board does. Who may see them:
- ``board.enabled: false``: nobody (404);
- ``board.auth`` set: whoever logs in (``/board/login``; a session cookie, and a CSRF token the pages send
  back on every POST, see ``access.board_session``);
- no ``board.auth``: anyone who reaches the server, but only while it listens on a loopback address and
  client signing is off; otherwise ``/board/`` answers a page saying how to set ``board.auth``, and no data.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from flask import Blueprint, Response, abort, jsonify, make_response, redirect, request, send_from_directory

from fate_flow.apps.util import result, runtime
from fate_flow.errors import AuthenticationError, RetCode
from fate_flow.manager.board_sessions import COOKIE, CSRF_HEADER, LoginThrottled, Session
from fate_flow.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "board" / "static"
board_app = Blueprint("board", __name__)
SECURITY_HEADERS = {
    # no inline script at all: data shown by the pages can never run as code
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
MAX_CREDENTIAL_CHARS = 1024
LOCKED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>FATE-Flow board: set a login first</title><link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5">
<h1>The board needs a login here</h1>
<p data-testid="board-locked">{why} So the board shows nothing until it has a login.</p>
<p>Make a password hash and put it, with a user name, in this server's <code>service_conf.yaml</code>:</p>
<pre style="background: #f4f4f4; padding: 1rem; overflow-x: auto">$ fate_flow board hash-password
Password: ********
scrypt$32768$8$1$...

board:
  auth:
    user: admin
    password_hash: "scrypt$32768$8$1$..."</pre>
<p>Then restart the server and open <code>/board/</code> again.</p>
</body></html>
"""


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def locked_reason(settings: Settings) -> str | None:
    """Why the board shows no data without a login here (None when it may, or when it has a login)."""
    if settings.board.auth:
        return None
    if not _is_loopback(settings.host):
        return (f"This server listens on {settings.host}, which other machines can reach, and board.auth is not "
                "set.")
    if settings.federation.client_auth:
        return "Client signing (authentication.client) is on, and the board cannot sign: it logs in instead."
    return None


@board_app.before_request
def _enabled() -> None:
    if not runtime().settings.board.enabled:
        abort(404)


@board_app.after_request
def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@board_app.route("/")
def root():
    return redirect("/board/", code=302)


@board_app.route("/board")
@board_app.route("/board/")
def index():
    why = locked_reason(runtime().settings)
    if why:
        response = make_response(LOCKED_PAGE.format(why=why), 403)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        return response
    response = send_from_directory(STATIC_DIR, "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


@board_app.route("/board/<path:name>")
def static_file(name: str):
    if locked_reason(runtime().settings):
        abort(404)
    response = send_from_directory(STATIC_DIR, name)  # werkzeug's safe_join confines the path to STATIC_DIR
    response.headers["Cache-Control"] = "no-cache"  # revalidated (ETag): a new release is seen at once
    return response


@board_app.route("/board/session", methods=["GET"])
def session_state():
    settings = runtime().settings
    session = board_session(runtime())
    return jsonify({"auth_required": settings.board.auth, "logged_in": session is not None,
                    "user": session.user if session else None, "csrf_token": session.csrf_token if session else None,
                    "locked": locked_reason(settings) is not None})


def board_session(rt) -> Session | None:
    """The login session this request carries (AuthenticationError for a POST without its CSRF token)."""
    return rt.board_sessions.of_request(request.cookies.get(COOKIE), request.method, request.headers.get(CSRF_HEADER))


def _credential(posted: dict, name: str) -> str:
    value = posted.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_CREDENTIAL_CHARS:
        raise AuthenticationError(f"{name} must be a non-empty string of at most {MAX_CREDENTIAL_CHARS} characters")
    return value


@board_app.route("/board/login", methods=["POST"])
def login():
    rt = runtime()
    board = rt.settings.board
    if not board.auth:
        return result(retmsg="this board has no login (board.auth is not set)", retcode=RetCode.OPERATING_ERROR)
    posted = request.get_json(silent=True)
    posted = posted if isinstance(posted, dict) else {}
    user, password = _credential(posted, "user"), _credential(posted, "password")
    try:
        found = rt.board_sessions.login(user, password, board.user, board.password_hash, request.remote_addr or "")
    except LoginThrottled as exc:
        response = result(retmsg=str(exc), retcode=RetCode.AUTHENTICATION_ERROR)
        response.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return response
    if found is None:
        return result(retmsg="wrong user or password", retcode=RetCode.AUTHENTICATION_ERROR)
    token, session = found
    response = result({"user": session.user, "csrf_token": session.csrf_token})
    response.set_cookie(COOKIE, token, max_age=int(board.session_hours * 3600), path="/", httponly=True,
                        samesite="Strict", secure=request.is_secure)
    return response


@board_app.route("/board/logout", methods=["POST"])
def logout():
    rt = runtime()
    if board_session(rt) is not None:  # with its CSRF token: another site's page cannot log a user out
        rt.board_sessions.logout(request.cookies.get(COOKIE))
    response = result()
    response.delete_cookie(COOKIE, path="/")
    return response
