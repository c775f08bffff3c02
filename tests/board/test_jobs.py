"""The board's jobs list and job page on a finished two-party hetero LR job: the list and its filters, the
DAG against the tasks, the loss and ROC charts against their metric data, output data and model weights,
markup in a description shown as text, rerun's confirmation, the list at a phone's width."""

from __future__ import annotations

import math
import re

import pytest

from tests.board.conftest import GUEST, HOST, LR_DSL, PHONE, XSS_MARKUP, Board, api
from tests.support import ServerProcess

pytestmark = pytest.mark.browser


def _rows(board: Board) -> list[dict]:
    return board.js("""return [...document.querySelectorAll('[data-testid=job-row]')].map(r => ({
        job_id: r.dataset.jobId, role: r.dataset.role, party_id: r.dataset.partyId, status: r.dataset.status,
        text: r.textContent}))""")


def _open_jobs(board: Board, server: ServerProcess, shot: str | None = "jobs") -> list[dict]:
    board.open(server, "#/jobs")
    board.ready("jobsReady")
    board.visible("job-list")
    if shot:
        board.shot(shot)
    return _rows(board)


def _apply_filters(board: Board, **values: str) -> None:
    for name, value in values.items():
        board.set_value(board.find(f"filter-{name}"), value)
    board.click(board.find("filter-apply"))


def _latest_tasks(server: ServerProcess, job_id: str, role: str, party_id: str) -> dict[str, str]:
    tasks = api(server, "/v1/job/list/task", {"job_id": job_id, "role": role, "party_id": party_id})["data"]["tasks"]
    latest: dict[str, dict] = {}
    for task in tasks:
        name = task["component_name"]
        if name not in latest or task["task_version"] > latest[name]["task_version"]:
            latest[name] = task
    return {name: task["status"] for name, task in latest.items()}


def _open_job(board: Board, server: ServerProcess, job_id: str, role: str, party_id: str, shot: str = "job"):
    board.open(server, f"#/job/{job_id}/{role}/{party_id}")
    board.ready("dagReady")
    board.visible("job-summary")
    board.shot(shot)


def _dag_nodes(board: Board) -> dict[str, str]:
    return board.js("""return Object.fromEntries([...document.querySelectorAll(
        'svg[data-testid=dag] g[data-testid=dag-node]')].map(n => [n.dataset.component, n.dataset.status]))""")


def _open_component(board: Board, component: str, tab: str, content: str):
    """Click the DAG node of ``component``, then its tab; the tab's content element once shown."""
    selector = f'svg[data-testid=dag] g[data-testid=dag-node][data-component="{component}"]'
    node = board.wait(lambda d: board.css(selector), message=f"no DAG node for {component}")[0]
    node.click()
    panel = board.visible("component-panel")
    board.click(board.find(f"tab-{tab}", panel))
    return board.visible(content)


def _chart(board: Board, metric: str):
    selector = f'canvas[data-testid=chart][data-metric="{metric}"]'
    charts = "return [...document.querySelectorAll('canvas[data-testid=chart]')].map(c => c.dataset.metric)"
    return board.wait(lambda d: board.css(selector),
                      message=lambda: f"no chart {selector} (charts: {board.js(charts)})")[0]


def _painted(board: Board, canvas) -> bool:
    """Whether the canvas has any non-transparent pixel (Chart.js drew something)."""
    return board.js("""const c = arguments[0]; if (!c.width || !c.height) return false;
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < data.length; i += 4) if (data[i]) return true; return false;""", canvas)


def test_the_job_is_listed_and_filters_narrow_the_list(board: Board, guest: ServerProcess, lr_job: str):
    rows = _open_jobs(board, guest)
    mine = [r for r in rows if r["job_id"] == lr_job]
    assert [(r["role"], r["party_id"], r["status"]) for r in mine] == [("guest", GUEST, "success")], rows
    listed = api(guest, "/v1/job/list/job", {"page": 1, "limit": 100})["data"]
    assert len(rows) == min(listed["count"], len(rows)) and str(listed["count"]) in board.find("job-count").text
    assert len(rows) >= 2  # the upload job (local) is listed too

    _apply_filters(board, status="failed")
    board.wait(lambda d: all(r["status"] == "failed" for r in _rows(board)),
               message="status filter 'failed' still lists other statuses")
    assert lr_job not in {r["job_id"] for r in _rows(board)}
    board.shot("jobs-failed")

    _apply_filters(board, status="success", **{"job-id": lr_job})
    board.wait(lambda d: [r["job_id"] for r in _rows(board)] == [lr_job],
               message=lambda: f"filter job id {lr_job} + success: rows are {_rows(board)}")
    assert _rows(board)[0]["status"] == "success"
    board.shot("jobs-filtered")


def test_a_description_with_markup_shows_as_text(board: Board, guest: ServerProcess, lr_job: str):
    api(guest, "/v1/job/update", {"job_id": lr_job, "role": "guest", "party_id": int(GUEST), "notes": XSS_MARKUP})
    _open_jobs(board, guest)
    row = board.wait(lambda d: [r for r in _rows(board) if r["job_id"] == lr_job])[0]
    assert XSS_MARKUP in row["text"], row
    assert board.js("return typeof window.__xss") == "undefined"
    assert board.js("return document.querySelectorAll('img[src=x], [onerror]').length") == 0
    # the job page shows it as text too
    _open_job(board, guest, lr_job, "guest", GUEST)
    assert XSS_MARKUP in board.find("job-summary").get_attribute("textContent")
    assert board.js("return typeof window.__xss") == "undefined"
    assert board.js("return document.querySelectorAll('img[src=x], [onerror]').length") == 0


def test_the_dag_shows_every_component_with_its_status(board: Board, guest: ServerProcess, host: ServerProcess,
                                                      lr_job: str):
    _open_job(board, guest, lr_job, "guest", GUEST)
    assert "success" in board.find("job-status").text.lower()
    nodes = _dag_nodes(board)
    assert set(nodes) == set(LR_DSL["components"])
    assert nodes == _latest_tasks(guest, lr_job, "guest", GUEST)
    # the host's board shows the host's own tasks
    _open_job(board, host, lr_job, "host", HOST, shot="job-host")
    assert _dag_nodes(board) == _latest_tasks(host, lr_job, "host", HOST)


def test_the_loss_and_roc_charts_have_the_jobs_points(board: Board, guest: ServerProcess, host: ServerProcess,
                                                      lr_job: str):
    component = {"job_id": lr_job, "component_name": "hetero_lr_0", "role": "arbiter", "party_id": int(HOST)}
    loss = api(host, "/v1/tracking/component/metric_data", {**component, "metric_namespace": "train",
                                                             "metric_name": "loss"})
    assert len(loss["data"]) == 5, loss  # one point per iteration, recorded by the arbiter (FATE's hetero LR)
    _open_job(board, host, lr_job, "arbiter", HOST, shot="job-arbiter")
    _open_component(board, "hetero_lr_0", "metrics", "metrics")
    chart = _chart(board, "train/loss")
    board.wait(lambda d: chart.get_attribute("data-points") == str(len(loss["data"])),
               message=lambda: f"loss chart data-points {chart.get_attribute('data-points')} != {len(loss['data'])}")
    assert chart.get_attribute("data-metric-type").upper() == loss["meta"]["metric_type"]
    board.wait(lambda d: _painted(board, chart), message="the loss chart's canvas is blank")
    board.shot("metrics-loss", chart)

    roc_name = "hetero_lr_0_roc"
    roc = api(guest, "/v1/tracking/component/metric_data", {
        "job_id": lr_job, "component_name": "evaluation_0", "role": "guest", "party_id": int(GUEST),
        "metric_namespace": "train", "metric_name": roc_name})
    assert len(roc["data"]) > 10, roc
    _open_job(board, guest, lr_job, "guest", GUEST)
    _open_component(board, "evaluation_0", "metrics", "metrics")
    chart = _chart(board, f"train/{roc_name}")
    board.wait(lambda d: chart.get_attribute("data-points") == str(len(roc["data"])),
               message=lambda: f"ROC chart data-points {chart.get_attribute('data-points')} != {len(roc['data'])}")
    assert chart.get_attribute("data-metric-type").upper() == roc["meta"]["metric_type"]
    board.wait(lambda d: _painted(board, chart), message="the ROC chart's canvas is blank")
    board.shot("metrics-roc", chart)


def _same(shown: str, value) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return math.isclose(float(shown), float(value), rel_tol=1e-6, abs_tol=1e-9)
        except ValueError:
            return False
    return shown == str(value)


def test_output_data_and_model_weights_show(board: Board, guest: ServerProcess, lr_job: str):
    component = {"job_id": lr_job, "component_name": "hetero_lr_0", "role": "guest", "party_id": int(GUEST)}
    output = api(guest, "/v1/tracking/component/output/data", component)
    header, rows = output["meta"]["header"][0], output["data"][0]
    _open_job(board, guest, lr_job, "guest", GUEST)
    table = _open_component(board, "hetero_lr_0", "data", "output-data")
    board.wait(lambda d: board.css("tbody tr", table), message="output data table has no rows")
    shown_header = [th.text.strip() for th in board.css("thead th", table) or board.css("th", table)]
    assert shown_header == header, (shown_header, header)
    shown_rows = board.js("""return [...arguments[0].querySelectorAll('tbody tr')].slice(0, 5).map(
        tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))""", table)
    assert len(shown_rows) == 5
    for shown, expected in zip(shown_rows, rows[:5], strict=True):
        assert len(shown) == len(expected) and all(_same(s, v) for s, v in zip(shown, expected, strict=True)), (
            shown, expected)
    board.shot("output-data", table)

    model = api(guest, "/v1/tracking/component/output/model", component)["data"]
    names, [weights] = model["header"], model["weights"]  # the guest's features, then the intercept
    board.click(board.find("tab-model", board.find("component-panel")))
    view = board.visible("model-weights")
    cells = board.js("""return [...arguments[0].querySelectorAll('*')].filter(e => !e.children.length)
        .map(e => e.textContent.trim())""", view)  # the texts of the innermost elements (a table's cells)
    for name in names:
        assert name in cells, (name, cells)
    numbers = [float(c) for c in cells if re.fullmatch(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", c)]
    for weight in weights:
        assert any(math.isclose(weight, n, rel_tol=1e-3, abs_tol=1e-6) for n in numbers), (weight, cells)
    board.shot("model", view)

    board.click(board.find("tab-parameters", board.find("component-panel")))
    parameters = board.visible("component-parameters").get_attribute("textContent")
    assert "max_iter" in parameters and "rmsprop" in parameters
    board.click(board.find("tab-summary", board.find("component-panel")))
    board.visible("component-summary")
    board.shot("summary")


def test_rerun_asks_for_confirmation_and_cancel_does_nothing(board: Board, guest: ServerProcess, lr_job: str):
    before = api(guest, "/v1/job/list/task", {"job_id": lr_job, "role": "guest", "party_id": GUEST})["data"]
    _open_job(board, guest, lr_job, "guest", GUEST)
    board.click(board.visible("rerun-job"))
    cancel = board.visible("confirm-cancel")
    board.visible("confirm-ok")
    board.shot("job-rerun-confirm")
    board.click(cancel)
    board.wait(lambda d: not any(e.is_displayed() for e in board.find_all("confirm-ok")),
               message="the confirmation stayed open after cancel")
    requested = board.js("return performance.getEntriesByType('resource').map(e => e.name)"
                         ".filter(n => n.includes('/v1/job/rerun'))")
    assert requested == []
    job = api(guest, "/v1/job/query", {"job_id": lr_job, "role": "guest", "party_id": GUEST})["data"][0]
    assert job["f_status"] == "success"
    after = api(guest, "/v1/job/list/task", {"job_id": lr_job, "role": "guest", "party_id": GUEST})["data"]
    assert after == before


def test_the_jobs_page_fits_a_phone(board: Board, guest: ServerProcess, lr_job: str):
    board.viewport(*PHONE, mobile=True)
    rows = _open_jobs(board, guest, shot="jobs-phone")
    assert lr_job in {r["job_id"] for r in rows}
    width, inner = board.js("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner == PHONE[0], "the page is not laid out at the phone's width (no viewport meta?)"
    assert width <= inner + 1, f"the document is {width} px wide at a {inner} px viewport"
