"""The board's browser tests: real Chromium (Debian's ``chromium`` and ``chromium-driver``) through Selenium 4
against real servers running real jobs.

One set of servers and jobs serves the whole package (``scope="package"``): two parties on separate
servers (guest 9999, host 10000, the arbiter at the host) and a finished hetero LR job with evaluation.
Each test gets a fresh browser (its own profile); every page it visits is saved as a screenshot under
``tests/board/screenshots/`` and the browser's console must hold no SEVERE entry when the test ends.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.jobs import FATE_DATA, HETERO_LR_DSL, job_conf, reader_params, upload
from tests.support import ServerProcess, database_env, start_parties

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
GUEST, HOST = "9999", "10000"
LAPTOP = (1366, 768)
PHONE = (390, 844)
TIMEOUT = 30  # explicit waits: generous, they return as soon as the condition holds
ENDED = ("success", "failed", "canceled", "timeout")
XSS_MARKUP = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'

LR_DSL = HETERO_LR_DSL  # (examples/jobs/hetero_lr, fewer iterations)


def lr_conf(max_iter: int, evaluation: bool = True) -> dict:
    """The hetero LR example's conf (guest 9999, host and arbiter 10000) with ``max_iter`` iterations."""
    params = {"data_transform_0": {"output_format": "dense"},
              "hetero_lr_0": {"penalty": "L2", "tol": 0.0001, "alpha": 0.01, "optimizer": "rmsprop",
                              "batch_size": 320, "learning_rate": 0.15, "init_param": {"init_method": "zeros"},
                              "max_iter": max_iter, "early_stop": "diff",
                              "encrypt_param": {"key_length": 1024}}}
    if evaluation:
        params["evaluation_0"] = {"eval_type": "binary"}
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    return job_conf(GUEST, [HOST], HOST, params, role)


def lr_dsl(evaluation: bool = True) -> dict:
    components = dict(LR_DSL["components"])
    if not evaluation:
        components.pop("evaluation_0")
    return {"components": components}


# ---------------------------------------------------------------------------------------------- servers


class _Factory:
    """start_parties' server factory, for a package's lifetime (tests.conftest's is per test)."""

    def __init__(self, root: Path):
        self.root = root
        self.started: list[ServerProcess] = []

    def __call__(self, engine: str = "sqlite", name: str = "party", env: dict | None = None,
                 config: Path | None = None, **ports: int) -> ServerProcess:
        server = ServerProcess(self.root / name, {**database_env(engine), **(env or {})}, config=config,
                               **ports).start()
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture(scope="package")
def board_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Factory]:
    """Servers started for the board tests (stopped when the package's tests are done)."""
    factory = _Factory(tmp_path_factory.mktemp("board"))
    yield factory
    factory.stop_all()


@pytest.fixture(scope="package")
def parties(board_factory: _Factory) -> dict[str, ServerProcess]:
    """Guest 9999 and host 10000 on their own servers, each with its breast table uploaded."""
    servers = start_parties(board_factory, [GUEST, HOST])
    upload(servers[GUEST], FATE_DATA / "breast_hetero_guest.csv", "breast_hetero_guest")
    upload(servers[HOST], FATE_DATA / "breast_hetero_host.csv", "breast_hetero_host")
    grant = {"party_id": int(GUEST), "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]}
    assert servers[HOST].post("/v1/permission/grant", grant)["retcode"] == 0  # the guest may read it
    return servers


@pytest.fixture(scope="package")
def guest(parties: dict[str, ServerProcess]) -> ServerProcess:
    return parties[GUEST]


@pytest.fixture(scope="package")
def host(parties: dict[str, ServerProcess]) -> ServerProcess:
    return parties[HOST]


def submit_job(server: ServerProcess, dsl: dict, conf: dict) -> str:
    answer = server.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    assert answer["retcode"] == 0, answer
    return answer["jobId"]


@pytest.fixture(scope="package")
def lr_job(parties: dict[str, ServerProcess]) -> str:
    """A finished (successful) hetero LR job with evaluation, 5 iterations; its id."""
    job_id = submit_job(parties[GUEST], lr_dsl(), lr_conf(5))
    job = parties[GUEST].wait_job(job_id, ENDED, timeout=240)
    assert job["f_status"] == "success", job
    assert parties[HOST].wait_job(job_id, ENDED, timeout=30)["f_status"] == "success"
    return job_id


def api(server: ServerProcess, path: str, body: dict | None = None) -> dict:
    """POST a Flow API and check its retcode."""
    answer = server.post(path, body or {})
    assert answer.get("retcode") == 0, (path, body, answer)
    return answer


def wait_until(condition: Callable[[], Any], timeout: float = TIMEOUT, interval: float = 0.2,
               message: str | Callable[[], str] = "") -> Any:
    """Poll ``condition`` (a server-side state, not the browser's) until it is truthy; ``message`` (or what it
    returns at the timeout) explains a timeout."""
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.time() > deadline:
            text = message() if callable(message) else message
            raise TimeoutError(f"{text or 'condition not met'} (waited {timeout} s)")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------- browser


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the browser tests)")
    pytest.skip(message)


def require_chromium() -> None:
    """Skip (fail in CI) without Debian's chromium and chromium-driver or without selenium."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if absent:
        _missing(f"{' and '.join(absent)} missing: install the Debian packages chromium and chromium-driver "
                 "(apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _missing("selenium is not installed (pip install -e '.[dev]')")


class Board:
    """One Chromium driving the board: navigation, waits on data-testid, screenshots per page."""

    def __init__(self, driver, test_name: str):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.test_name = re.sub(r"[^\w.-]+", "_", test_name).strip("_")
        self._wait = WebDriverWait
        self.size = LAPTOP
        self.viewport(*LAPTOP)

    # viewport: the exact CSS size (a window's size would include the browser's own frame)
    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.size = (width, height)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def open(self, server: ServerProcess, route: str = "", path: str = "/board/") -> None:
        """Load ``path`` + ``route`` (e.g. ``#/jobs``) afresh: a full page load, not a hash change."""
        self.driver.get("about:blank")
        self.driver.get(server.url + path + route)

    def wait(self, condition: Callable, timeout: float = TIMEOUT, message: str | Callable[[], str] = "") -> Any:
        """Wait until ``condition(driver)`` is truthy; ``message`` (or what it returns, computed at the
        timeout) explains a timeout."""
        from selenium.common.exceptions import TimeoutException

        try:
            return self._wait(self.driver, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException:
            text = message() if callable(message) else message
            raise TimeoutException(f"{text} (waited {timeout} s on {self.driver.current_url})") from None

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def find(self, testid: str, within=None):
        from selenium.webdriver.common.by import By

        return (within or self.driver).find_element(By.CSS_SELECTOR, f"[data-testid={testid}]")

    def find_all(self, testid: str, within=None) -> list:
        from selenium.webdriver.common.by import By

        return (within or self.driver).find_elements(By.CSS_SELECTOR, f"[data-testid={testid}]")

    def css(self, selector: str, within=None) -> list:
        from selenium.webdriver.common.by import By

        return (within or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def visible(self, testid: str, timeout: float = TIMEOUT):
        """The element with ``data-testid=testid`` once it is displayed."""
        def shown(driver):
            for element in self.find_all(testid):
                if element.is_displayed():
                    return element
            return False
        return self.wait(shown, timeout, lambda: f"[data-testid={testid}] not displayed "
                                                 f"(error shown: {self.error_text()!r})")

    def ready(self, flag: str, timeout: float = TIMEOUT) -> None:
        """Wait for ``document.body.dataset[flag] == "1"`` (jobsReady, dagReady)."""
        self.wait(lambda d: d.execute_script(f"return document.body && document.body.dataset.{flag}") == "1",
                  timeout, lambda: f"document.body.dataset.{flag} never became \"1\" "
                                   f"(error shown: {self.error_text()!r})")

    def error_text(self) -> str:
        try:
            return " | ".join(e.text for e in self.find_all("error"))
        except Exception:  # noqa: BLE001
            return ""

    def click(self, element) -> None:
        """Scroll into view and click (the element must be clickable once visible)."""
        self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def set_value(self, element, value: str) -> None:
        """Type into an input or choose an option of a select by its value or text."""
        from selenium.webdriver.support.ui import Select

        if element.tag_name.lower() == "select":
            select = Select(element)
            values = [option.get_attribute("value") for option in select.options]
            if value in values:
                select.select_by_value(value)
            else:
                select.select_by_visible_text(value)
        else:
            element.clear()
            element.send_keys(value)

    def shot(self, page: str, element=None) -> Path:
        """Save ``tests/board/screenshots/<test>-<page>.png`` (the viewport as a user sees it, scrolled to
        ``element`` when given)."""
        if element is not None:
            self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{page}.png"
        self.driver.get_screenshot_as_file(str(path))
        return path

    def severe_console(self) -> list[dict]:
        return [entry for entry in self.driver.get_log("browser") if entry.get("level") == "SEVERE"]


def new_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # a binary given: Selenium Manager downloads nothing
    profile = tempfile.mkdtemp(prefix="board-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-quic", f"--user-data-dir={profile}",
                 f"--window-size={LAPTOP[0]},{LAPTOP[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver, profile


@pytest.fixture
def board(request: pytest.FixtureRequest) -> Iterator[Board]:
    """A fresh headless Chromium (its own profile) at laptop size."""
    require_chromium()
    driver, profile = new_driver()
    try:
        yield Board(driver, request.node.name)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "console_allows(*patterns): SEVERE console entries matching one of these "
                                       "regular expressions are expected in this test (a status the server means)")


@pytest.fixture(autouse=True)
def _no_severe_console_entries(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that used the browser fails when its console holds SEVERE entries (errors, failed loads), but
    for those its ``console_allows`` marker names."""
    if "board" not in request.fixturenames:
        yield
        return
    browser: Board = request.getfixturevalue("board")
    yield
    allowed = [re.compile(p) for mark in request.node.iter_markers("console_allows") for p in mark.args]
    severe = [entry for entry in browser.severe_console()
              if not any(pattern.search(entry["message"]) for pattern in allowed)]
    if severe:
        listed = "\n".join(f"  {entry.get('source', '')}: {entry['message']}" for entry in severe)
        pytest.fail(f"SEVERE browser console entries:\n{listed}", pytrace=False)


def get_json(server: ServerProcess, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(server.url + path, timeout=30, **kwargs)
