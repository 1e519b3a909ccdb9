"""Packet viewer page: its size and its load time in headless Chromium.

Run from the repository root::

    python benchmarks/viewer_page.py                     # quickstart, 20 connections, 10 s
    python benchmarks/viewer_page.py --connections 3 --window 0:1
    python benchmarks/viewer_page.py --screenshots docs/images   # the docs' screenshots

It builds the page as ``lbsim view quickstart --connections N --window T0:T1``
would, reports the build time, the page size and the number of events, then opens
the page from a ``file://`` URL in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through Selenium) ``--repeat`` times and reports the median
load time: from the start of navigation to the end of the load event, which
includes parsing the inline JSON and building the first view (the page's script
runs before the load event). This is a benchmark, not a test: it prints numbers
and asserts nothing.

``--screenshots DIR`` instead writes the screenshots used by ``docs/teaching.md``
(a small page, L4 and L7 side by side, one packet selected).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from lbsim.capture.limits import parse_window
from lbsim.scenario import load_scenario
from lbsim.teach import view


def _driver(width: int, height: int) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        raise SystemExit("needs chromium and chromedriver (Debian: chromium, chromium-driver)")
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
    return webdriver.Chrome(service=Service(driver), options=options)


def benchmark(args: argparse.Namespace) -> None:
    """Build one page, then load it ``args.repeat`` times."""
    scenario = load_scenario("quickstart", args.set)
    started = time.perf_counter()
    page = view(
        scenario, window=parse_window(args.window), connections=args.connections, max_events=10**7
    )
    built = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = page.save(Path(tmp) / "view.html")
        size = path.stat().st_size
        events = sum(page.events.values())
        print(f"page: quickstart, {args.connections} connections, window {args.window}")
        print(f"  events: {events:,} ({', '.join(f'{k}: {v:,}' for k, v in page.events.items())})")
        print(f"  size:   {size / 1e6:.1f} MB ({size / events:.0f} B per event)")
        print(f"  build:  {built:.1f} s (simulation, capture and page)")
        driver = _driver(1600, 1200)
        try:
            loads = []
            for _ in range(args.repeat):
                driver.get("about:blank")
                driver.get(path.as_uri())
                loads.append(
                    driver.execute_script(
                        "var n = performance.getEntriesByType('navigation')[0];"
                        "return n.loadEventEnd - n.startTime;"
                    )
                )
            count = driver.execute_script("return lbsimViewer.count()")
        finally:
            driver.quit()
    median = statistics.median(loads)
    print(f"  load:   {median:.0f} ms median of {args.repeat} in headless Chromium")
    every = ", ".join(f"{x:.0f}" for x in loads)
    print(f"          (all loads: {every} ms; {count:,} events listed)")


def _select(driver: Any, variant_first: str, kind: str, sender: str) -> None:
    driver.execute_script("lbsimViewer.setFilter('kind', arguments[0])", kind)
    for k in range(int(driver.execute_script("return lbsimViewer.count()"))):
        driver.execute_script("lbsimViewer.select(arguments[0])", k)
        head = driver.find_element(
            "css selector", f'div.variant[data-variant="{variant_first}"] .head'
        ).text
        if f"{sender} \u2192 {variant_first} \u00b7" in head and "latest" not in head:
            return
    raise SystemExit(f"no {kind} from {sender} at {variant_first}")


def screenshots(directory: Path) -> None:
    """The screenshots of docs/teaching.md."""
    scenario = load_scenario("quickstart")
    page = view(scenario, window=(0.0, 1.0), connections=3)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = page.save(Path(tmp) / "view.html")
        driver = _driver(1600, 1500)
        try:
            driver.get(path.as_uri())
            # The first request of one browser reaching both balancers at the same time.
            _select(driver, "l4", "HTTP request", "browsers-h30")
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(directory / "viewer.png"))
            _select(driver, "l4", "SYN", "browsers-h37")
            driver.save_screenshot(str(directory / "viewer-syn.png"))
        finally:
            driver.quit()
    _topology_screenshot(directory)
    print(f"screenshots written to {directory}")


def _topology_screenshot(directory: Path) -> None:
    """two_tier's first request half way from its L4 instance to its L7 instance."""
    page = view(load_scenario("two_tier"), ["round_robin"], window=(0.0, 0.03))
    with tempfile.TemporaryDirectory() as tmp:
        path = page.save(Path(tmp) / "view.html")
        driver = _driver(1600, 1060)
        try:
            driver.get(path.as_uri())
            driver.execute_script("lbsimViewer.setFilter('kind', 'HTTP request')")
            for k in range(int(driver.execute_script("return lbsimViewer.count()"))):
                driver.execute_script("lbsimViewer.select(arguments[0])", k)
                head = driver.find_element("css selector", "div.variant .head").text
                if "maglev-" in head and "\u2192 proxies-" in head:
                    break
            t0 = driver.execute_script("return lbsimViewer.time()")
            driver.execute_script("lbsimViewer.seek(arguments[0])", t0 + 0.000025)
            driver.save_screenshot(str(directory / "viewer-topology.png"))
        finally:
            driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--window", default="0:10")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, metavar="DIR")
    args = parser.parse_args()
    if args.screenshots is not None:
        screenshots(args.screenshots)
    else:
        benchmark(args)


if __name__ == "__main__":
    main()
