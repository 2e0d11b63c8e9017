"""`gtgan serve` in a real browser: headless Chromium (Debian's `chromium`) driven by Selenium
through Debian's `chromium-driver`, on the page a person uses. It types a bad caption and reads
the error, then a good one, presses Generate, waits for the gallery, checks the pictures arrived
and are not blank, and saves a screenshot (GTGAN_SERVE_SCREENSHOT=path also copies it there:
docs/serve.png comes from this test).

CI must run it: under CI (CI set) or GTGAN_BROWSER_TESTS=1 (.ci/run sets it) a missing
browser is a failure; elsewhere the test is skipped and says what to install."""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CAPTION = "a bird with a red body, blue wings and a yellow crown"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--disable-quic", "--window-size=1280,1700"]
INSTALL = "./setup.sh --with-browser (apt-get install chromium chromium-driver; pip install selenium)"

pytestmark = pytest.mark.slow


def _browser_or_skip():
    """(chromium, chromedriver) paths; a skip with the reason, or under CI a failure."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (Python)")
    if missing:
        why = f"the browser test needs {', '.join(missing)}: install with {INSTALL}"
        if os.environ.get("CI") or os.environ.get("GTGAN_BROWSER_TESTS") == "1":
            pytest.fail(f"{why}; CI must not skip it")
        pytest.skip(why)
    return chromium, driver


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # A fresh profile per run; as root Chromium needs --no-sandbox, and the background
    # services (updates, sync, QUIC probes) are off for a machine without internet.
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _fetch_image(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return np.asarray(Image.open(io.BytesIO(resp.read())).convert("RGB"))


def test_page_in_a_real_browser(browser, serve_server, tmp_path):  # browser first: skip early
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(serve_server.url)
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#caption textarea"))
    assert "About this model" in browser.page_source and "Deviations from the paper" in browser.page_source

    box.send_keys(CAPTION)
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    n = 4  # the page's default number of images
    imgs = wait.until(lambda d: (found := d.find_elements(By.CSS_SELECTOR, "#gallery img"))
                      and len(found) >= n and all(i.get_attribute("src") for i in found) and found)
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth > 0)"))
    assert len(imgs) == n
    size = int(browser.execute_script("return document.querySelector('#gallery img').naturalWidth"))
    assert size == max(int(s) for s in browser.find_element(By.ID, "scale").text.split() if s.isdigit())
    for img in imgs:  # the pictures the browser shows, as served: not blank
        pixels = _fetch_image(img.get_attribute("src")).astype(float)
        assert pixels.shape == (size, size, 3) and pixels.std() > 2.0
    assert "seed 0" in browser.find_element(By.ID, "result_line").text

    shot = tmp_path / "serve.png"
    browser.save_screenshot(str(shot))
    assert Image.open(shot).size[0] >= 1000
    if os.environ.get("GTGAN_SERVE_SCREENSHOT"):
        shutil.copyfile(shot, Path(os.environ["GTGAN_SERVE_SCREENSHOT"]))
    print(f"screenshot: {shot}")

    # Bad input: the CLI's one-line message on the page, and the page goes on working.
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    wait.until(lambda d: "caption 1 is empty" in d.find_element(By.TAG_NAME, "body").text)
    box.send_keys("a small green bird")
    seed = browser.find_element(By.CSS_SELECTOR, "#seed input")
    seed.send_keys(Keys.CONTROL, "a")  # (a modifier is held to the end of one send_keys call)
    seed.send_keys(Keys.BACKSPACE, "7")
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    wait.until(lambda d: "seed 7" in d.find_element(By.ID, "result_line").text)
    assert serve_server.alive()
