"""Shared pieces of the client: its error type, JSON files, required options and the HTTP calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

EXCEPTION_ERROR = 100
CONNECT_TIMEOUT = 10.0

# conf key -> the command-line option that sets it (for "missing required option" messages)
OPTION_FLAGS = {
    "job_id": "-j/--job_id",
    "role": "-r/--role",
    "party_id": "-p/--party_id",
    "component_name": "-cpn/--component_name",
    "output_path": "-o/--output_path",
    "namespace": "-n/--namespace",
    "table_name": "-t/--table_name",
    "config": "-c/--config",
    "dsl": "-d/--dsl",
}


class ClientError(Exception):
    """A failure the client reports itself as ``{"retcode": 100, "retmsg": message}``."""

    def __init__(self, message: str, retcode: int = EXCEPTION_ERROR):
        super().__init__(message)
        self.message = message
        self.retcode = retcode

    def envelope(self) -> dict:
        """The JSON answer the client prints for this error: ``{"retcode": ..., "retmsg": message}``."""
        return {"retcode": self.retcode, "retmsg": self.message}


def load_json_file(path: str, what: str) -> Any:
    """The parsed content of a JSON file; a missing or malformed file is a ClientError."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClientError(f"{what} file not found: {file.absolute()}") from None
    except OSError as exc:
        raise ClientError(f"cannot read {what} file {file.absolute()}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientError(f"{what} file {file.absolute()} is not valid JSON: {exc}") from None


def require(conf: dict, function: str, *keys: str) -> None:
    """Raise a ClientError naming the options that ``function`` needs and that are missing."""
    missing = [key for key in keys if conf.get(key) in (None, "")]
    if missing:
        names = ", ".join(f"{OPTION_FLAGS.get(key, key)} (conf key {key!r})" for key in missing)
        raise ClientError(f"function {function} is missing required option(s): {names}")


def base_url(host: str, port: int | str) -> str:
    """The API root ``http://host:port/v1`` (an IPv6 host is put in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"http://{host}:{port}/v1"


class FlowServer:
    """The fate_flow HTTP API at ``http://host:port/v1``."""

    def __init__(self, host: str, port: int | str, timeout: float):
        self.base_url = base_url(host, port)
        self.timeout = timeout

    def url(self, path: str) -> str:
        """The full URL of API ``path`` (given from after ``/v1/``, e.g. ``job/submit``)."""
        return f"{self.base_url}/{path}"

    def send(self, path: str, **kwargs: Any) -> requests.Response:
        """POST ``path``; connection problems become ClientErrors that name the URL."""
        url = self.url(path)
        try:
            return requests.post(url, timeout=(CONNECT_TIMEOUT, self.timeout), **kwargs)
        except requests.ConnectionError as exc:
            raise ClientError(f"Connection refused, Please check if the fate flow service is started: "
                              f"cannot connect to {url.split('?', 1)[0]} ({_reason(exc)})") from None
        except requests.Timeout:
            raise ClientError(f"no answer from {url.split('?', 1)[0]} within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise ClientError(f"request to {url.split('?', 1)[0]} failed: {exc}") from None

    def post(self, path: str, body: dict | None = None, **kwargs: Any) -> dict:
        """POST a JSON body and return the JSON envelope of the answer."""
        if "data" not in kwargs:
            kwargs["json"] = body if body is not None else {}
        with self.send(path, **kwargs) as response:
            return envelope(response)


def envelope(response: requests.Response) -> dict:
    """The answer's JSON object, or FATE's ``{"retcode": 100, "retmsg": <text>}`` for anything else."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    text = response.text.strip()[:2000]
    return {"retcode": EXCEPTION_ERROR,
            "retmsg": f"HTTP {response.status_code} from {response.url.split('?', 1)[0]}: {text}"}


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker in text:
            return marker
    return text[:300]
