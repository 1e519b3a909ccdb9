"""The packet viewer in a real headless browser (Chromium through Selenium).

One page of a small quickstart (6 browsers, the first 0.4 s) is built once per
module and opened from a ``file://`` URL; the same scenario and seed are run with
``lbsim run --trace-segments`` and the page is checked against ``segments.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lbsim.cli import main
from lbsim.records import DecisionRecord
from lbsim.scenario import load_scenario
from lbsim.teach import view
from lbsim.teach.sentences import sentence

SETS = ["clients.browsers.count=6", "duration=1s", "warmup=0s"]
WINDOW = (0.0, 0.4)
VIP = "203.0.113.10"


def file_url(path: Path) -> str:
    return path.resolve().as_uri()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("viewer") / "quickstart-view.html"
    view(load_scenario("quickstart", SETS), window=WINDOW).save(path)
    return path


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """segments.csv of the same run, the window's rows in order of send time."""
    out = tmp_path_factory.mktemp("run")
    args = ["run", "quickstart", "--trace-segments", "--no-figures", "--out", str(out)]
    for item in SETS:
        args += ["--set", item]
    assert main(args) == 0
    table = pd.read_csv(out / "segments.csv")
    inside = (table["time"] >= WINDOW[0]) & (table["time"] < WINDOW[1])
    return table[inside].sort_values("time", kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def opened(driver: Any, page: Path) -> Any:
    driver.get(file_url(page))
    driver.find_element("id", "event-count")
    return driver


def _cell(driver: Any, variant: str, field: str, side: str = "in") -> Any:
    return driver.find_element(
        "css selector",
        f'div.variant[data-variant="{variant}"] td[data-field="{field}"][data-side="{side}"]',
    )


def _only(driver: Any, variant: str, kind: str = "") -> int:
    driver.execute_script("lbsimViewer.setFilter('kind', arguments[0])", kind)
    driver.execute_script("lbsimViewer.setFilter('conn', ''); lbsimViewer.setFilter('req', '')")
    script = "return lbsimViewer.setFilter('variant', arguments[0])"
    return int(driver.execute_script(script, variant))


def _assert_shows(driver: Any, variant: str, row: pd.Series) -> None:
    assert _cell(driver, variant, "ip.src").text == row["src"]
    assert _cell(driver, variant, "ip.dst").text == row["dst"]
    assert _cell(driver, variant, "tcp.sport").text == str(row["sport"])
    assert _cell(driver, variant, "tcp.dport").text == str(row["dport"])
    assert _cell(driver, variant, "tcp.seq").text.split(" ")[0] == str(row["seq"])
    assert _cell(driver, variant, "tcp.ack").text.split(" ")[0] == str(row["ack"])
    flags = row["flags"] if isinstance(row["flags"], str) else "(none)"
    assert _cell(driver, variant, "tcp.flags").text == flags
    assert _cell(driver, variant, "tcp.window").text == str(row["window"])
    assert _cell(driver, variant, "tcp.len").text == f"{row['payload']} B"


def test_no_console_errors(opened: Any) -> None:
    # Exercise the page first: play, pause, seek, filters.
    before = opened.execute_script("return lbsimViewer.time()")
    opened.find_element("id", "btn-play").click()
    opened.execute_script("return new Promise(r => setTimeout(r, 300))")
    opened.find_element("id", "btn-pause").click()
    assert opened.execute_script("return lbsimViewer.time()") > before  # playback ran
    opened.execute_script("lbsimViewer.setFilter('kind', 'ACK'); lbsimViewer.setFilter('kind', '')")
    logs = opened.get_log("browser")
    assert [entry for entry in logs if entry["level"] == "SEVERE"] == []
    # The check can fail: an error logged by the page is seen.
    opened.execute_script("console.error('probe')")
    assert any("probe" in e["message"] for e in opened.get_log("browser"))


def test_no_network_request(opened: Any, page: Path) -> None:
    requested = []
    for entry in opened.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert requested == [file_url(page)]
    text = page.read_text("utf-8")
    assert "default-src 'none'" in text
    for needle in ("<link", " src=", "url(", "@import", "fetch(", "XMLHttpRequest"):
        assert needle not in text


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_event_count_equals_segments_in_window(
    opened: Any, segments: pd.DataFrame, variant: str
) -> None:
    count = _only(opened, variant)
    expected = int((segments["variant"] == variant).sum())
    assert expected > 500
    assert count == expected
    assert opened.find_element("id", "event-count").text == str(expected)


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_step_to_event_k_shows_segment_k(opened: Any, segments: pd.DataFrame, variant: str) -> None:
    rows = segments[segments["variant"] == variant].reset_index(drop=True)
    _only(opened, variant)
    for k in (0, 1, 7, len(rows) // 2, len(rows) - 1):
        assert opened.execute_script("return lbsimViewer.select(arguments[0])", k) == k
        _assert_shows(opened, variant, rows.iloc[k])


def test_step_forward_and_back(opened: Any, segments: pd.DataFrame) -> None:
    rows = segments[segments["variant"] == "l4"].reset_index(drop=True)
    _only(opened, "l4")
    k = 40
    opened.execute_script("lbsimViewer.select(arguments[0])", k)
    opened.find_element("id", "btn-fwd").click()
    assert opened.execute_script("return lbsimViewer.cursor()") == k + 1
    _assert_shows(opened, "l4", rows.iloc[k + 1])
    opened.find_element("id", "btn-back").click()
    opened.find_element("id", "btn-back").click()
    assert opened.execute_script("return lbsimViewer.cursor()") == k - 1
    _assert_shows(opened, "l4", rows.iloc[k - 1])
    # The event list marks the same row.
    selected = opened.find_element("css selector", "#evlist .row.sel")
    assert selected.get_attribute("data-n") == str(k - 1)


def _first_syn_at_balancer(opened: Any) -> None:
    _only(opened, "l4", "SYN")
    for k in range(10):
        opened.execute_script("lbsimViewer.select(arguments[0])", k)
        head = opened.find_element("css selector", 'div.variant[data-variant="l4"] .head').text
        if "\u2192 l4 \u00b7" in head:
            return
    raise AssertionError("no SYN reached the L4 balancer")


def test_nat_destination_change_is_highlighted(opened: Any) -> None:
    _first_syn_at_balancer(opened)
    before = _cell(opened, "l4", "ip.dst", "in")
    after = _cell(opened, "l4", "ip.dst", "out")
    assert before.text == VIP
    assert after.text.startswith("10.0.1.")
    assert "changed" in after.get_attribute("class").split()
    # What NAT keeps is not highlighted.
    kept = _cell(opened, "l4", "ip.src", "out")
    assert kept.text == _cell(opened, "l4", "ip.src", "in").text
    assert "changed" not in kept.get_attribute("class").split()
    assert "changed" not in _cell(opened, "l4", "tcp.seq", "out").get_attribute("class").split()


def test_nat_table_miss_sentence(opened: Any) -> None:
    _first_syn_at_balancer(opened)
    backend = _cell(opened, "l4", "ip.dst", "out").text
    pane = opened.find_element("css selector", 'div.variant[data-variant="l4"]')
    sentences = [d.text for d in pane.find_elements("css selector", ".decision")]
    expected = f"NAT table miss: new entry \u2192 web-{backend.rsplit('.', 1)[1]} "
    expected += "(round_robin: next in rotation"
    assert any(s.startswith(expected) for s in sentences), sentences


def test_mss_clamp_sentence_on_the_syn_ack(opened: Any) -> None:
    _only(opened, "l4", "SYN-ACK")
    opened.execute_script("lbsimViewer.select(0)")
    pane = opened.find_element("css selector", 'div.variant[data-variant="l4"]')
    assert "MSS option clamped 8960 \u2192 1460" in pane.text
    assert _cell(opened, "l4", "tcp.options", "out").text.startswith("MSS 1460")
    assert _cell(opened, "l4", "ip.ttl", "in").text == "64"
    assert _cell(opened, "l4", "ip.ttl", "out").text == "63"


def test_l7_pick_sentence(opened: Any) -> None:
    sentences = opened.execute_script("return lbsimViewer.sentences('l7')")
    assert sentences
    assert all("least_request" in s and "picked web-" in s for s in sentences), sentences[:3]


# ---------------------------------------------------------------- L7 routing page


@pytest.fixture(scope="module")
def routing(driver: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("routing") / "routing-view.html"
    sets = ["clients.browsers.count=3", "duration=1s", "warmup=0s"]
    view(load_scenario("routing", sets), ["l7"], window=(0.0, 0.6)).save(path)
    driver.get(file_url(path))
    return driver


def test_l7_backend_side_request_carries_x_forwarded_for(routing: Any) -> None:
    _only(routing, "l7", "HTTP request")
    found = False
    for k in range(int(routing.execute_script("return lbsimViewer.count()"))):
        routing.execute_script("lbsimViewer.select(arguments[0])", k)
        out = _cell(routing, "l7", "http.headers", "out").text
        if out:
            found = True
            client = _cell(routing, "l7", "ip.src", "in").text
            assert f"X-Forwarded-For: {client}" in out
            break
    assert found


def test_l7_rule_match_sentence(routing: Any) -> None:
    sentences = routing.execute_script("return lbsimViewer.sentences('l7')")
    assert any(s.startswith("rule /pictures/ matched \u2192 group pictures") for s in sentences)


def test_page_and_trace_word_decisions_alike(opened: Any, page: Path) -> None:
    """The page's script and lbsim.teach.sentences render the same records alike."""
    opened.get(file_url(page))  # the routing tests may have opened another page
    text = page.read_text("utf-8")
    start = text.index('id="lbsim-data">') + len('id="lbsim-data">')
    data = json.loads(text[start : text.index("</script>", start)])
    for variant in data["variants"]:
        records = [
            DecisionRecord(
                d["time"], d["device"], d["reason"], d["conn"], d["request"], d["backend"],
                tuple(d["values"].items()),
            )
            for d in variant["decisions"]
        ]  # fmt: skip
        assert records
        shown = opened.execute_script("return lbsimViewer.sentences(arguments[0])", variant["name"])
        assert shown == [sentence(d) for d in records]


def test_l7_buffering_sentence(driver: Any, tmp_path: Path) -> None:
    """A 5 KB request reaches an L7 balancer in 4 segments; it holds the first three."""
    sets = [*SETS, "clients.browsers.requests.0.size=5KB", "clients.browsers.requests.1.size=5KB"]
    path = tmp_path / "buffered.html"
    view(load_scenario("quickstart", sets), ["l7"], window=(0.0, 0.3), client="browsers-h1").save(
        path
    )
    driver.get(file_url(path))
    _only(driver, "l7", "HTTP request")
    driver.execute_script("lbsimViewer.select(0)")
    pane = driver.find_element("css selector", 'div.variant[data-variant="l7"]')
    assert "request buffered: 1 of 4 segments (1.5 of 5.0 KB); no backend chosen yet" in pane.text
