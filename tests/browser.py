"""The Space's page in headless Chromium (Debian's chromium and chromium-driver, installed by .ci/run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image


def chrome_driver():
    """A headless Chromium WebDriver; skips the test when selenium or the browser is missing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip(
            "headless browser test needs Debian's chromium and chromium-driver (installed by .ci/run)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def analyse_in_browser(url: str, photo: Path, screenshot: Path) -> None:
    """Open the Space at ``url``, upload ``photo``, press Analyse and wait for the three pictures and
    the JSON download; fails if the page shows an error. Saves a screenshot."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chrome_driver()
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 120)
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
        browser.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(photo))
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#photo img")))
        browser.find_element(By.CSS_SELECTOR, "#analyse").click()
        for output in ("landmarks", "parsing", "depth"):
            wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, f"#{output} img")))
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#json a")))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(screenshot))
        assert Image.open(screenshot).size[0] > 0
        assert "Error" not in browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.quit()
