"""The board's data, models and party pages against the two-party servers: a table's first rows (the uploaded
CSV's), the LR job's model and its predict DSL, the server's info, cores and the route to the other party."""

from __future__ import annotations

import math

import pytest

from tests.board.conftest import GUEST, HOST, Board, api, wait_until
from tests.jobs import FATE_DATA
from tests.support import ServerProcess

pytestmark = pytest.mark.browser
TABLE = ("experiment", "breast_hetero_guest")


def _csv_rows(name: str) -> tuple[list[str], list[list[str]]]:
    lines = (FATE_DATA / f"{name}.csv").read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def _same(shown: str, value: str) -> bool:
    if shown == value:
        return True
    try:
        return math.isclose(float(shown), float(value), rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


def test_the_data_page_shows_a_tables_first_rows(board: Board, guest: ServerProcess):
    board.open(guest, "#/data")
    namespace, name = TABLE
    selector = f'[data-testid=table-row][data-namespace="{namespace}"][data-name="{name}"]'
    row = board.wait(lambda d: board.css(selector), message=lambda: (
        "table not listed; rows: " + str(board.js("return [...document.querySelectorAll('[data-testid=table-row]')]"
                                                  ".map(r => r.dataset.namespace + '.' + r.dataset.name)"))))[0]
    board.wait(lambda d: board.find_all("upload-row"), message="no upload listed on the data page")
    board.shot("data")
    board.click(row)
    board.wait(lambda d: f"#/data/{namespace}/{name}" in d.current_url,
               message="clicking the table did not open its page")
    header, csv_rows = _csv_rows(name)
    count = board.visible("table-count")
    board.wait(lambda d: str(len(csv_rows)) in count.text, message=lambda: f"table-count shows {count.text!r}")
    schema = board.visible("table-schema").get_attribute("textContent")
    assert all(column in schema for column in header), (header, schema)
    preview = board.visible("table-preview")
    board.wait(lambda d: board.css("tbody tr", preview), message="the preview has no rows")
    shown = board.js("""return [...arguments[0].querySelectorAll('tbody tr')].map(
        tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))""", preview)
    shown_header = [th.text.strip() for th in board.css("th", preview)]
    assert shown_header == header, shown_header
    board.shot("table")
    by_id = {row[0]: row for row in csv_rows}
    for row in shown:  # every row shown is the uploaded one, value for value
        assert row[0] in by_id and all(_same(s, v) for s, v in zip(row, by_id[row[0]], strict=True)), row
    first = [row[0] for row in shown[:5]]
    assert first == [row[0] for row in csv_rows[:5]], f"the preview starts with ids {first}, the CSV with " \
                                                       f"{[row[0] for row in csv_rows[:5]]}"


def test_the_models_page_lists_the_lr_jobs_model(board: Board, guest: ServerProcess, lr_job: str):
    board.open(guest, "#/models")
    row = board.wait(lambda d: [r for r in board.find_all("model-row") if lr_job in r.get_attribute("textContent")],
                     message=lambda: "the LR job's model (version = job id) is not listed: "
                                     + " | ".join(r.text for r in board.find_all("model-row")))[0]
    board.shot("models")
    board.click(board.find("show-predict-dsl", row))
    dsl = board.visible("predict-dsl")
    board.wait(lambda d: "hetero_lr_0" in dsl.get_attribute("textContent"),
               message=lambda: f"predict DSL shows {dsl.get_attribute('textContent')[:300]!r}")
    expected = api(guest, "/v1/model/get/predict/dsl", {
        "model_id": _model_id(guest, lr_job), "model_version": lr_job})["data"]
    for component in expected["components"]:
        assert component in dsl.get_attribute("textContent"), component
    board.shot("model-detail")


def _model_id(server: ServerProcess, job_id: str) -> str:
    job = api(server, "/v1/job/query", {"job_id": job_id, "role": "guest", "party_id": GUEST})["data"][0]
    return job["f_runtime_conf_on_party"]["job_parameters"]["model_id"]


def test_the_party_page_shows_the_server_its_cores_and_a_reachable_route(board: Board, guest: ServerProcess,
                                                                           host: ServerProcess):
    board.open(guest, "#/party")
    info = board.visible("server-info")
    board.wait(lambda d: GUEST in info.get_attribute("textContent"),
               message=lambda: f"server-info does not name party {GUEST}: {info.text!r}")
    resources = board.visible("resources")
    cores = api(guest, "/v1/resource/query", {"engine_name": "STANDALONE"})["data"]
    total = cores["computing_engine_resource"]["f_cores"]
    board.wait(lambda d: str(total) in resources.get_attribute("textContent"),
               message=lambda: f"resources do not show the {total} cores: {resources.text!r}")
    route = board.wait(lambda d: board.css(f'[data-testid=route-row][data-party-id="{HOST}"]'),
                       message=lambda: f"no route row for {HOST}")[0]
    board.wait(lambda d: route.get_attribute("data-reachable") == "true",
               message=lambda: f"route to {HOST}: data-reachable={route.get_attribute('data-reachable')!r}")
    assert str(host.http_port) in route.get_attribute("textContent")
    board.shot("party")


def test_an_ended_jobs_mailboxes_are_gone_at_every_party(parties: dict[str, ServerProcess], lr_job: str):
    """Not a page: the host's and the arbiter's rows (one server) end at the same moment; the later end sees
    the other's and drops what the job's tasks received."""
    for server in parties.values():
        wait_until(lambda server=server: not (server.home / "mailbox" / lr_job).exists(), timeout=15,
                   message=lambda server=server: f"{server.home / 'mailbox' / lr_job} is still there")
