"""The dashboard in a real headless Chromium (Debian's `chromium` and
`chromedriver`, driven by Selenium): it loads, a running job's plot gains
points, cancel from the page ends the job `cd`, the submit page shows a
validation error. Without Chromium these tests skip with the reason (shown by
`-ra`); `.ci/run` installs it. Set SUGO_WEB_SCREENSHOTS=DIR to save a picture
of each page (docs/images/ holds the ones the docs show).
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import DATA, wait_for
from tests.web.webserver import WebServer, payload

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1300,1000"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        pytest.skip(f"selenium is not installed ({e}): pip install -e '.[test]'")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} missing: apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="sugo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shot(browser: Any, name: str) -> None:
    folder = os.environ.get("SUGO_WEB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / f"web-{name}.png"))


def _ready(web: WebServer, pipeline: str, sample: str) -> None:
    web.post(f"/api/v1/pipelines/{pipeline}/eject")
    web.post(f"/api/v1/pipelines/{pipeline}/load", {"sample": sample})
    web.post(f"/api/v1/pipelines/{pipeline}/ready")


def _submit(web: WebServer, text: str) -> int:
    r = web.post("/api/v1/jobs", text, headers={"Content-Type": "application/toml"})
    assert r.status == 201, r.body
    return int(r.json["id"])


def _by_id(browser: Any, id_: str) -> Any:
    return browser.find_element("id", id_)


def _points(browser: Any) -> int:
    blocks = browser.find_elements("css selector", ".role-block")
    return sum(int(b.get_attribute("data-points") or 0) for b in blocks)


def test_the_dashboard_loads(browser: Any, web: WebServer) -> None:
    browser.get(web.base + "/")
    assert browser.title.endswith("overview")
    rows = browser.find_elements("css selector", "#pipelines tbody tr")
    names = {r.get_attribute("data-pipeline") for r in rows}
    assert {"pip-counter-1", "pip-demo"} <= names
    dots = browser.find_elements("css selector", "#components .dot.ok")
    assert len(dots) == len(web.get("/api/v1/components").json["components"])
    _shot(browser, "overview")


def test_a_running_jobs_plot_gains_points(browser: Any, web: WebServer) -> None:
    _ready(web, "pip-counter-1", "B-1")
    jobid = _submit(web, payload("B-1", (3.0, 0.1), (3.0, 0.1)))
    browser.get(f"{web.base}/jobs/{jobid}")

    def running_with_points() -> int:
        code = _by_id(browser, "status").get_attribute("data-code")
        return _points(browser) if code == "r" else 0

    first = wait_for(running_with_points, 30, "points in the plot while it runs", every=0.1)
    wait_for(lambda: running_with_points() > first, 30, "more points while it runs", every=0.1)
    panels = browser.find_elements("css selector", ".role-block[data-role=counter] .panel")
    assert len(panels) >= 2  # one per unit
    wait_for(lambda: _by_id(browser, "status").get_attribute("data-code") == "c", 30, "c")
    wait_for(lambda: _points(browser) == 60, 10, "every point plotted")
    _shot(browser, "job")


def test_cancel_from_the_page_ends_the_job_cd(browser: Any, web: WebServer) -> None:
    _ready(web, "pip-counter-2", "B-2")
    jobid = _submit(web, payload("B-2", (60.0, 0.1)))
    browser.get(f"{web.base}/jobs/{jobid}")
    wait_for(lambda: _by_id(browser, "status").get_attribute("data-code") == "r", 30, "r")
    # Cancel once data flows: a SIGTERM in the runner's first moments ends it `ce`
    # ("job runner died unexpectedly"), a daemon-side race this test is not about.
    wait_for(lambda: _points(browser) > 0, 30, "the first points", every=0.1)
    _by_id(browser, "cancel").click()
    try:
        wait_for(lambda: _by_id(browser, "status").get_attribute("data-code") == "cd", 60, "cd")
    except AssertionError as e:
        daemon_says = web.get(f"/api/v1/jobs/{jobid}").json["code"]
        shown = _by_id(browser, "status").text, _by_id(browser, "error").text
        raise AssertionError(f"{e}: page {shown}, daemon {daemon_says}, console "
                             f"{browser.get_log('browser')}") from None  # fmt: skip
    assert web.get(f"/api/v1/jobs/{jobid}").json["code"] == "cd"


def test_the_submit_page_shows_a_validation_error(browser: Any, web: WebServer) -> None:
    bad = DATA / "malformed" / "payload_missing_sample.yml"
    cli = json.loads(web.cli("--json", "check", str(bad)).stdout)["error"]
    browser.get(web.base + "/submit")
    _by_id(browser, "format").send_keys("yaml")
    _by_id(browser, "payload").send_keys(bad.read_text())
    _by_id(browser, "check").click()
    shown = wait_for(lambda: _error_text(browser), 20, "the validation error")
    assert shown == cli.replace(str(bad), "payload")  # the page's payload is "payload"
    # A valid payload: each pipeline's verdict, then submit opens the job's page.
    _ready(web, "pip-counter-3", "B-3")
    box = _by_id(browser, "payload")
    box.clear()
    _by_id(browser, "format").send_keys("toml")
    box.send_keys(payload("B-3", (0.5, 0.1)))
    _by_id(browser, "check").click()
    wait_for(lambda: browser.find_elements("css selector", "#verdicts li.yes"), 20, "verdicts")
    verdict = browser.find_element("css selector", "#verdicts li[data-pipeline=pip-counter-3]")
    assert verdict.text == "pip-counter-3: can run it now"
    _shot(browser, "submit")
    _by_id(browser, "submit").click()
    wait_for(lambda: "/jobs/" in browser.current_url, 20, "the job's page")


def _error_text(browser: Any) -> str:
    text = str(_by_id(browser, "error").text)
    return "" if text in ("", "checking…") else text
