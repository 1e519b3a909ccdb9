"""The packet viewer of a topology in a real headless browser (Chromium through Selenium).

A page of two_tier (variant round_robin, the first 0.03 s) is opened from a
``file://`` URL: every element of the graph is drawn, labelled, and the selected
packet moves on the link between the two elements its event joins, with the
element it reaches highlighted. A screenshot is saved for people to look at.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from viewer_model import page_model

from lbsim.records import DecisionRecord
from lbsim.scenario import load_scenario
from lbsim.teach import view
from lbsim.teach.sentences import sentence

SETS = ["duration=0.2s", "warmup=0s"]
WINDOW = (0.0, 0.03)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("viewer") / "two_tier-view.html"
    view(load_scenario("two_tier", SETS), ["round_robin"], window=WINDOW).save(path)
    return path


@pytest.fixture(scope="module")
def model(page: Path) -> dict[str, Any]:
    return page_model(page.read_text("utf-8"))["variants"][0]


@pytest.fixture(scope="module")
def opened(driver: Any, page: Path) -> Any:
    driver.get(page.resolve().as_uri())
    driver.find_element("id", "event-count")
    return driver


def test_no_console_errors(opened: Any) -> None:
    opened.find_element("id", "btn-play").click()
    opened.execute_script("return new Promise(r => setTimeout(r, 300))")
    opened.find_element("id", "btn-pause").click()
    assert [e for e in opened.get_log("browser") if e["level"] == "SEVERE"] == []


def test_every_element_is_drawn_and_labelled(opened: Any, model: dict[str, Any]) -> None:
    drawn = opened.find_elements("css selector", "svg.topo g.node[data-node]")
    assert sorted(g.get_attribute("data-node") for g in drawn) == sorted(
        n["name"] for n in model["nodes"]
    )
    for g in drawn:
        label = g.find_element("css selector", "text").text
        assert label == g.get_attribute("data-node")
    boxes = [b.text for b in opened.find_elements("css selector", "svg.topo g.tierbox")]
    assert boxes == ["tier maglev\nL4 DSR maglev", "tier proxies\nL7 round_robin \u00b7 variant"]


def _first(model: dict[str, Any], strings: list[str], at_prefix: str, kind: str) -> int:
    e = model["events"]
    for i in range(model["count"]):
        if strings[e["at"][i]].startswith(at_prefix) and strings[e["kind"][i]] == kind:
            return i
    raise AssertionError(f"no {kind} event reaching {at_prefix}")


def _strings(page: Path) -> list[str]:
    strings: list[str] = page_model(page.read_text("utf-8"))["strings"]
    return strings


@pytest.mark.parametrize(("at", "kind"), [("maglev-", "SYN"), ("proxies-", "HTTP request")])
def test_selected_packet_moves_on_its_link_to_the_highlighted_instance(
    opened: Any, model: dict[str, Any], page: Path, at: str, kind: str, tmp_path: Path
) -> None:
    strings = _strings(page)
    i = _first(model, strings, at, kind)
    e = model["events"]
    assert opened.execute_script("return lbsimViewer.select(arguments[0])", i) == i
    sender, receiver = strings[e["from"][i]], strings[e["at"][i]]
    middle = (e["t"][i] + e["ta"][i]) / 2
    opened.execute_script("lbsimViewer.seek(arguments[0])", middle)
    active = opened.find_elements("css selector", "svg.topo g.node.active")
    assert [g.get_attribute("data-node") for g in active] == [receiver]
    pos = {n["name"]: (n["x"], n["y"]) for n in model["nodes"]}
    (x0, y0), (x1, y1) = pos[sender], pos[receiver]
    dot = opened.find_element("css selector", "svg.topo circle.pkt.sel")
    cx, cy = float(dot.get_attribute("cx")), float(dot.get_attribute("cy"))
    # Half way along the link (drawn 5 units to one side of the line).
    length = math.hypot(x1 - x0, y1 - y0)
    along = ((cx - x0) * (x1 - x0) + (cy - y0) * (y1 - y0)) / length**2
    aside = abs((cx - x0) * (y1 - y0) - (cy - y0) * (x1 - x0)) / length
    assert along == pytest.approx(0.5, abs=0.02) and aside == pytest.approx(5, abs=0.5)
    head = opened.find_element("css selector", "div.variant .head").text
    assert f"{sender} \u2192 {receiver}" in head
    shot = tmp_path / f"two_tier-{kind.replace(' ', '_')}.png"
    opened.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000


def test_decisions_are_worded_as_lbsim_trace_words_them(opened: Any, model: dict[str, Any]) -> None:
    records = [
        DecisionRecord(
            d["time"], d["device"], d["reason"], d["conn"], d["request"], d["backend"],
            tuple(d["values"].items()),
        )
        for d in model["decisions"]
    ]  # fmt: skip
    assert {d.reason for d in records} >= {"ecmp_pick", "table_miss", "rule_match"}
    page = opened.execute_script("return lbsimViewer.sentences(arguments[0])", "round_robin")
    assert page == [sentence(d) for d in records]


def test_forwarding_elements_say_where_the_packet_went(
    opened: Any, model: dict[str, Any], page: Path
) -> None:
    strings = _strings(page)
    e = model["events"]
    seen = set()
    for i in range(model["count"]):
        at, out = strings[e["at"][i]], e["out"][i]
        if out < 0 or strings[e["kind"][i]] != "ACK" or at in seen:
            continue
        if not at.startswith(("maglev-", "edge")) or strings[e["dst"][i]] != "203.0.113.10":
            continue
        seen.add(at)
        opened.execute_script("lbsimViewer.select(arguments[0])", i)
        boxes = [b.text for b in opened.find_elements("css selector", "div.variant .decision")]
        nxt = strings[e["at"][out]]
        why = (
            "table hit: existing entry"
            if at.startswith("maglev-")
            else "ECMP: same 5-tuple, same bucket"
        )
        assert boxes == [f"{why} \u2192 {nxt}"]
    assert {"edge", "maglev-1", "maglev-2"} <= seen


def test_a_client_page_draws_that_clients_traffic_through_the_tiers(
    driver: Any, tmp_path: Path
) -> None:
    path = tmp_path / "two_tier-client.html"
    view(load_scenario("two_tier", SETS), ["round_robin"], client="east-h1").save(path)
    model = page_model(path.read_text("utf-8"))["variants"][0]
    driver.get(path.resolve().as_uri())
    assert driver.find_element("id", "event-count").text == str(model["count"])
    drawn = {
        g.get_attribute("data-node")
        for g in driver.find_elements("css selector", "svg.topo g.node[data-node]")
    }
    # Every element of the graph, and of the client hosts only the one chosen.
    assert {n for n in drawn if n.startswith(("east-h", "west-h"))} == {"east-h1"}
    assert {"maglev-1", "proxies-3", "api-1"} <= drawn
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
