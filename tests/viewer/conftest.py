"""Shared pieces of the browser tests: a headless Chromium driver and built pages.

The tests open viewer pages from ``file://`` URLs in headless Chromium (Debian's
``chromium`` and ``chromium-driver``) through Selenium. Without a browser they are
skipped, unless ``LBSIM_REQUIRE_BROWSER=1`` (set by ``.ci/run``) asks them to fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"


def _browser() -> tuple[str, str] | None:
    binary = next((p for name in CHROMIUM if (p := shutil.which(name))), None)
    driver = shutil.which(DRIVER)
    if binary is None or driver is None:
        return None
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    return binary, driver


def start_driver(width: int = 1600, height: int = 1200) -> Any:
    """A headless Chromium driver with browser and performance logs, or skip/fail."""
    found = _browser()
    if found is None:
        message = "headless Chromium, chromedriver and selenium are needed for the viewer tests"
        if os.environ.get("LBSIM_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (LBSIM_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = found
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One browser per test module (starting Chromium costs about a second)."""
    d = start_driver()
    try:
        yield d
    finally:
        d.quit()
