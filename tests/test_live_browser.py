"""The web demo in a real headless Chromium (Debian's chromium and chromedriver, driven by Selenium).

The server runs in this process on a free port with the packaged default models; the test uploads a clip,
presses Answer and waits for the reply text and the emotion chart. A screenshot is saved as a test artefact
(in pytest's tmp folder, or in $EMOTIONLAYER_SCREENSHOT_DIR when set). Skipped when Chromium, its driver or
Selenium is not installed (CI installs them: see .ci/run).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "audio" / "sad_phone.wav"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    uvicorn = pytest.importorskip("uvicorn")
    from emotionlayer.cli.serve import create_app

    app = create_app(audio_dir=tmp_path_factory.mktemp("replies"))
    app.state.demo.system().warmup()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="emotionlayer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1100",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_upload_a_clip_and_see_the_reply_and_the_emotion_chart(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    wait = WebDriverWait(browser, 120)
    upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#recording input[type=file]")))
    upload.send_keys(str(CLIP))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'#recording a[href*="{CLIP.name}"]')))  # uploaded
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#answer"))).click()

    def value(elem_id: str) -> str:
        field = browser.find_element(By.CSS_SELECTOR, f"#{elem_id} textarea, #{elem_id} input")
        return field.get_attribute("value") or ""

    wait.until(lambda _: value("status").strip() != "")  # the timings line comes with the finished turn
    assert "phone" in value("transcript").lower()
    assert len(value("reply").split()) >= 2
    assert value("strategy").strip()
    # The emotion chart (vega) is drawn with one bar per emotion.
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#emotion .mark-rect path")) >= 8)
    assert browser.find_element(By.CSS_SELECTOR, "#emotion svg").is_displayed()
    time.sleep(1.0)  # let the chart's transition finish before the screenshot
    target = Path(os.environ.get("EMOTIONLAYER_SCREENSHOT_DIR", tmp_path)) / "live-serve.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(target)) and target.stat().st_size > 10_000
