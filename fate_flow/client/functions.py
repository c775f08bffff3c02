"""One handler per ``-f`` function; each returns the envelope the client prints."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from fate_flow.client.archive import safe_extract, save_stream
from fate_flow.client.common import ClientError, FlowServer, envelope, load_json_file, require
from fate_flow.client.multipart import MultipartFile


@dataclass
class Call:
    """One client invocation: the function, the server, and the request conf.

    ``conf`` is built like FATE 1.5's client: the ``-c`` JSON file updated with every option given on the
    command line, plus ``local: {role, party_id}``; ``conf_file`` is the ``-c`` file alone.
    """

    function: str
    server: FlowServer
    conf: dict
    conf_file: dict = field(default_factory=dict)
    config_path: str | None = None
    dsl_path: str | None = None


Handler = Callable[[Call], dict]
COMPONENT_KEYS = ("job_id", "role", "party_id", "component_name")

# FATE 1.5's submit answer (upload, submit_job) named the job files like this; 1.11 servers drop the "job_"
V15_PATH_KEYS = {
    "job_dsl_path": "dsl_path",
    "job_runtime_conf_path": "runtime_conf_path",
    "job_runtime_conf_on_party_path": "runtime_conf_on_party_path",
}


def with_v15_keys(answer: dict) -> dict:
    """Add FATE 1.5's key names to a submit answer's ``data`` (the server's own keys are kept)."""
    data = answer.get("data")
    if isinstance(data, dict):
        for old_key, new_key in V15_PATH_KEYS.items():
            if old_key not in data and new_key in data:
                data[old_key] = data[new_key]
    return answer


def _post(path: str, *required: str) -> Handler:
    """A handler that checks ``required`` conf keys and posts the conf as the JSON body."""

    def handler(call: Call) -> dict:
        require(call.conf, call.function, *required)
        return call.server.post(path, call.conf)

    return handler


def upload(call: Call) -> dict:
    """data/upload: the client's file as multipart (conf in the query string), or a server-side file."""
    conf = call.conf
    if str(conf.get("use_local_data", 1)) == "0":
        return with_v15_keys(call.server.post("data/upload", conf))
    require(conf, call.function, "file")
    path = Path(os.path.expanduser(str(conf["file"])))
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        raise ClientError("The file is obtained from the fate flow client machine, but it does not exist, "
                          f"please check the path: {path}")
    with MultipartFile(path) as body:
        answer = call.server.post(f"data/upload?{quote(json.dumps(conf))}", data=body,
                                  headers={"Content-Type": body.content_type})
    return with_v15_keys(answer)


def query_job(call: Call) -> dict:
    """job/query; like FATE 1.5 the client drops the bulky ``f_runtime_conf`` and ``f_dsl`` of each row."""
    answer = call.server.post("job/query", call.conf)
    if answer.get("retcode") == 0 and isinstance(answer.get("data"), list):
        for row in answer["data"]:
            if isinstance(row, dict):
                row.pop("f_runtime_conf", None)
                row.pop("f_dsl", None)
    return answer


def job_config(call: Call) -> dict:
    """job/config: writes ``<output_path>/job_<id>_config/<key>.json`` for every key but job_id."""
    require(call.conf, call.function, "job_id", "role", "party_id", "output_path")
    answer = call.server.post("job/config", call.conf)
    data = answer.get("data")
    if answer.get("retcode") != 0 or not isinstance(data, dict):
        return answer
    directory = Path(call.conf["output_path"]) / f"job_{data.get('job_id', call.conf['job_id'])}_config"
    _write_json_files(directory, {k: v for k, v in data.items() if k != "job_id"})
    data.pop("dsl", None)
    data.pop("runtime_conf", None)
    answer["directory"] = str(directory)
    answer["retmsg"] = f"download successfully, please check {directory} directory"
    return answer


def _write_json_files(directory: Path, documents: dict) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for key, value in documents.items():
            (directory / f"{Path(str(key)).name}.json").write_text(json.dumps(value, indent=4), encoding="utf-8")
    except OSError as exc:
        raise ClientError(f"cannot write the job config into {directory}: {exc}") from None


def _download_archive(call: Call, path: str, directory: Path) -> dict:
    """POST ``path`` and extract the gzip tar it answers, safely, into ``directory``."""
    with call.server.send(path, json=call.conf, stream=True) as response:
        if response.status_code != 200 or "json" in response.headers.get("Content-Type", ""):
            return envelope(response)
        with save_stream(response.iter_content(chunk_size=1 << 20)) as archive:
            safe_extract(archive, directory)
    return {"retcode": 0, "directory": str(directory),
            "retmsg": f"download successfully, please check {directory} directory"}


def component_output_data(call: Call) -> dict:
    """tracking/component/output/data/download: the component's output tables as csv + meta files."""
    require(call.conf, call.function, "job_id", "role", "party_id", "component_name", "output_path")
    c = call.conf
    directory = Path(c["output_path"]) / (f"job_{c['job_id']}_{c['component_name']}_{c['role']}_"
                                          f"{c['party_id']}_output_data")
    return _download_archive(call, "tracking/component/output/data/download", directory)


def job_log(call: Call) -> dict:
    """job/log/download: the gzip tar is extracted, safely, under ``<output_path>/job_<id>_log/``."""
    require(call.conf, call.function, "job_id", "output_path")
    directory = Path(call.conf["output_path"]) / f"job_{call.conf['job_id']}_log"
    return _download_archive(call, "job/log/download", directory)


def submit_job(call: Call) -> dict:
    """job/submit with ``{"job_dsl": <-d file>, "job_runtime_conf": <-c file>}``."""
    require({"config": call.config_path}, call.function, "config")
    is_predict = call.conf_file.get("job_parameters", {}).get("job_type", "") == "predict"
    if not call.dsl_path and not is_predict:
        require({}, call.function, "dsl")
    dsl = load_json_file(call.dsl_path, "dsl") if call.dsl_path else {}
    return with_v15_keys(call.server.post("job/submit", {"job_dsl": dsl, "job_runtime_conf": call.conf_file}))


FUNCTIONS: dict[str, Handler] = {
    "upload": upload,
    "download": _post("data/download", "namespace", "table_name", "output_path"),
    "upload_history": _post("data/upload/history"),
    "submit_job": submit_job,
    "query_job": query_job,
    "stop_job": _post("job/stop", "job_id"),
    "job_config": job_config,
    "job_log": job_log,
    "query_task": _post("job/task/query"),
    "table_info": _post("table/table_info", "namespace", "table_name"),
    "delete_table": _post("table/delete", "namespace", "table_name"),
    "table_delete": _post("table/delete", "namespace", "table_name"),
    "rerun_job": _post("job/rerun", "job_id"),
    "data_view_query": _post("job/data/view/query", "job_id"),
    "clean_queue": _post("job/clean/queue"),
    "component_list": _post("tracking/component/list", "job_id"),
    "component_parameters": _post("tracking/component/parameters", *COMPONENT_KEYS),
    "component_metrics": _post("tracking/component/metrics", *COMPONENT_KEYS),
    "component_metric_all": _post("tracking/component/metric/all", *COMPONENT_KEYS),
    "component_output_model": _post("tracking/component/output/model", *COMPONENT_KEYS),
    "component_output_data_table": _post("tracking/component/output/data/table", *COMPONENT_KEYS),
    "component_output_data": component_output_data,
}
