"""The board's login sessions: in this server's memory, so a restart logs everyone out.

A session is a random token (the ``HttpOnly``, ``SameSite=Strict`` cookie) and its own CSRF token, which the
board's pages send back in a header on every POST: a page of another site can make the browser send the cookie
but cannot read the CSRF token. Failed logins are throttled per client address, so a password cannot be
guessed at the rate scrypt allows.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from fate_flow.errors import AuthenticationError
from fate_flow.utils.passwords import verify_password

COOKIE = "fate_flow_board"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_SESSIONS = 1000  # the oldest goes first beyond this (a login loop cannot fill the memory)
FAILURES_ALLOWED = 5  # failed logins per address within FAILURE_WINDOW_S before the next are refused unchecked
FAILURE_WINDOW_S = 60.0


@dataclass(frozen=True)
class Session:
    """One logged-in browser."""

    user: str
    csrf_token: str
    expires: float


class LoginThrottled(Exception):
    """Too many failed logins from one address: wait before trying again."""

    def __init__(self, retry_after: float):
        super().__init__(f"too many failed logins from this address: try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class BoardSessions:
    """Sessions of one server's board, and the throttle of failed logins."""

    def __init__(self, ttl_s: float, clock=time.monotonic):
        self.ttl_s, self._clock = ttl_s, clock
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def login(self, user: str, password: str, expected_user: str, password_hash: str, address: str
              ) -> tuple[str, Session] | None:
        """A new session token and session when ``user`` and ``password`` match, else None; LoginThrottled when
        ``address`` failed too often lately (then nothing is checked)."""
        self._check_throttle(address)
        matches = verify_password(password, password_hash)  # checked even for a wrong user: same time either way
        if not (matches and hmac.compare_digest(user.encode(), expected_user.encode())):
            with self._lock:
                self._failures.setdefault(address, deque()).append(self._clock())
            return None
        token = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), self._clock() + self.ttl_s)
        with self._lock:
            self._failures.pop(address, None)
            if len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[token] = session
        return token, session

    def _check_throttle(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            failures = self._failures.get(address)
            while failures and failures[0] < now - FAILURE_WINDOW_S:
                failures.popleft()
            if failures and len(failures) >= FAILURES_ALLOWED:
                raise LoginThrottled(failures[0] + FAILURE_WINDOW_S - now)

    def find(self, token: str | None) -> Session | None:
        """The live session of ``token`` (None when unknown or expired)."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is not None and session.expires <= self._clock():
                del self._sessions[token]
                return None
            return session

    def of_request(self, cookie: str | None, method: str, csrf_token: str | None) -> Session | None:
        """The session a request's ``cookie`` names (None without one); AuthenticationError when the request
        changes something (a POST ...) without the session's CSRF token."""
        session = self.find(cookie)
        if session is None or method in SAFE_METHODS:
            return session
        if not hmac.compare_digest((csrf_token or "").encode(), session.csrf_token.encode()):
            raise AuthenticationError(f"the board's request lacks its session's CSRF token ({CSRF_HEADER} header)")
        return session

    def logout(self, token: str | None) -> None:
        """End the session of ``token`` (if any)."""
        with self._lock:
            self._sessions.pop(token or "", None)
