"""Finding and reading scenario files; YAML problems; bundled scenarios; --seed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lbsim.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    bundled_scenarios_dir,
    list_bundled,
    load_scenario,
    read_scenario_data,
)
from lbsim.scenario import loader as loader_module


@pytest.fixture
def bundled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example_path: Path) -> Path:
    """Point the bundled-scenario folder at a temporary one holding two scenarios."""
    shutil.copy(example_path, tmp_path / "quickstart.yaml")
    shutil.copy(example_path, tmp_path / "stickiness.yaml")
    (tmp_path / "notes.txt").write_text("not a scenario")
    monkeypatch.setattr(loader_module, "bundled_scenarios_dir", lambda: tmp_path)
    return tmp_path


def test_load_by_path(example_path: Path) -> None:
    assert load_scenario(example_path) == load_scenario(str(example_path))


def test_bundled_name_and_default(bundled: Path) -> None:
    assert list_bundled() == ["quickstart", "stickiness"]
    assert load_scenario("stickiness").name == "quickstart_like"
    assert load_scenario("stickiness.yaml") == load_scenario("stickiness")
    assert load_scenario() == load_scenario(DEFAULT_SCENARIO)
    _, file = read_scenario_data("stickiness")
    assert file == str(bundled / "stickiness.yaml")


def test_a_real_file_wins_over_a_bundled_name(
    bundled: Path, tmp_path: Path, example_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    text = example_path.read_text().replace("name: quickstart_like", "name: local")
    (work / "stickiness").write_text(text)
    monkeypatch.chdir(work)
    assert load_scenario("stickiness").name == "local"


def test_missing_file_lists_bundled_names(bundled: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario("nonesuch")
    assert (
        str(caught.value) == "nonesuch: file not found (bundled scenarios: quickstart, stickiness)"
    )
    assert caught.value.path == ""


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is a folder, expected a scenario file"):
        load_scenario(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\n  duration: 10s\n",
            "invalid YAML at line 2, column 11: mapping values are not allowed here",
        ),
        ("name: [x\n", "invalid YAML at line 2, column 1: expected ',' or ']'"),
        (
            "name: x\nseed: 1\nseed: 2\n",
            'invalid YAML at line 3, column 1: the key "seed" appears twice',
        ),
        ("a: !!python/object/apply:os.system [echo hi]\n", "invalid YAML at line 1, column 4:"),
        ("", "the file is empty; expected a mapping of scenario keys"),
        ("# only a comment\n", "the file is empty"),
        (
            "- name: x\n",
            "the top level must be a mapping of keys (name, duration, network, ...), got list",
        ),
        ("just text\n", "the top level must be a mapping of keys"),
    ],
)
def test_bad_yaml(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert caught.value.path == ""
    assert message in caught.value.message
    assert "\n" not in str(caught.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(path)


ANCHORS = """\
name: anchors
duration: 10s
network:
  client_link: &link {latency: 1ms, bandwidth: 1Gbps}
  backend_link: {<<: *link, latency: 0.1ms}   # overriding a merged key is not a duplicate
backends: [{group: web, service_time: exp(5ms)}]
clients: [{name: users, count: 2, requests: [{path: /, response: 1KB}]}]
balancers: [{name: lb, layer: 4, algorithm: random}]
"""


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(ANCHORS)
    link = load_scenario(path).network.backend_link
    assert (link.latency, link.bandwidth) == (0.0001, 1e9)


def test_errors_name_the_file(tmp_path: Path, example_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(example_path.read_text().replace("workers: 8", "wokers: 8"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(
        f'{path}: backends.web.wokers: unknown key "wokers" (did you mean'
    )


def test_seed_is_applied_after_overrides(example_path: Path) -> None:
    assert load_scenario(example_path).seed == 1
    assert load_scenario(example_path, ["seed=5"]).seed == 5
    assert load_scenario(example_path, ["seed=5"], seed=9).seed == 9
    with pytest.raises(ScenarioError, match="seed: must be at least 0"):
        load_scenario(example_path, seed=-1)


def test_override_errors_name_the_file(example_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(example_path, ["clients.phones.count=1"])
    assert caught.value.file == str(example_path)
    assert caught.value.path == "clients.phones.count"


def test_bundled_folder_location() -> None:
    folder = bundled_scenarios_dir()
    assert folder.name in ("scenarios", "_bundled_scenarios")
    if folder.name == "scenarios":
        assert folder.parent == Path(loader_module.__file__).resolve().parents[2]


def test_list_bundled_without_a_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loader_module, "bundled_scenarios_dir", lambda: tmp_path / "absent")
    assert list_bundled() == []
    with pytest.raises(ScenarioError, match=r"bundled scenarios: none found"):
        load_scenario()


@pytest.mark.parametrize("name", list_bundled())
def test_every_bundled_scenario_is_valid(name: str) -> None:
    assert isinstance(load_scenario(name), Scenario)


def test_parse_scenario_refuses_non_mappings() -> None:
    from lbsim.scenario import parse_scenario

    with pytest.raises(ScenarioError, match="top level must be a mapping"):
        parse_scenario(["name", "x"])  # type: ignore[arg-type]
