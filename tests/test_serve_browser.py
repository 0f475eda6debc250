"""The web page in headless Chromium: `sqlora serve` (tiny model, real SQLite database) in a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DB_ID = "musical"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing (install it with .ci/browser.sh)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(spider_dir, tiny_model_dir, tmp_path_factory):
    """``sqlora serve --db sqlite:///... --port N --model tiny`` on 127.0.0.1, until the module ends."""
    source = spider_dir / "database" / DB_ID / f"{DB_ID}.sqlite"
    db = tmp_path_factory.mktemp("browser-db") / f"{DB_ID}.sqlite"
    shutil.copyfile(source, db)
    port = free_port()
    log = tmp_path_factory.mktemp("browser-log") / "serve.log"
    cmd = [sys.executable, "-m", "sqlora.cli.main", "serve", "--db", f"sqlite:///{db}", "--port", str(port),
           "--model", str(tiny_model_dir), "--log-level", "warning"]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SQLORA_TOKEN": ""})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sqlora serve exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sqlora serve did not come up:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chrome-profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_ask_a_question_in_the_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(server + "/")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tables li")) == 2)
    names = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "#tables .name")}
    assert names == {"musical", "actor"}
    assert "sqlite" in browser.find_element(By.ID, "meta").text

    browser.find_element(By.ID, "question").send_keys("How many actors are there?")
    browser.find_element(By.ID, "go").click()
    wait.until(ec.visibility_of_element_located((By.ID, "answer")))
    wait.until(lambda d: d.find_element(By.ID, "sql").text.strip() != "")
    validity = browser.find_element(By.ID, "validity").text.lower()
    assert validity in ("valid", "invalid")
    if validity == "valid":  # a result table, or the reason it was not executed
        wait.until(
            lambda d: d.find_element(By.ID, "result").is_displayed() or d.find_elements(By.CSS_SELECTOR, "#errors li")
        )
    else:
        assert browser.find_elements(By.CSS_SELECTOR, "#errors li")
    shot = tmp_path / "serve_page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    keep = os.environ.get("SQLORA_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
