"""The new algorithm parameters inside the real engine (scenario in, records out).

Slow start needs nothing from the balancer: the algorithm notices a backend it
has not seen before in its candidate list.  The bundled ``scale_out`` scenario
adds a fifth backend at 20 s; with ``slow_start_window: 20`` on the L7
``least_request`` balancer its share of requests ramps up over the window
instead of being a full fifth at once.
"""

from __future__ import annotations

from collections import Counter

import pytest

from lbsim import theory
from lbsim.scenario import ScenarioError, load_scenario
from lbsim.sim import build_variant, check_buildable, run_variant


def new_backend_shares(params: str) -> list[float]:
    sc = load_scenario("scale_out", ["duration=45s", f"balancers.l7.params={params}"])
    requests = run_variant(sc, "l7").recorder.requests
    shares = []
    for start, end in ((20, 23), (23, 28), (28, 33), (33, 38), (40, 45)):
        counts = Counter(r.backend for r in requests if start <= r.t_start < end)
        shares.append(counts["api-5"] / sum(counts.values()))
    return shares


def test_slow_start_ramps_a_scaled_out_backend_in_the_engine():
    """About 3000 requests a bin.  Without slow start api-5 gets its fifth at once;
    with a 20 s window it starts near f/(4+f) = 2.4 % and ramps to 20 %."""
    plain = new_backend_shares("{}")
    ramped = new_backend_shares("{slow_start_window: 20}")
    print(f"\napi-5 share per bin: {[round(s, 3) for s in plain]} without slow start, "
          f"{[round(s, 3) for s in ramped]} with")  # fmt: skip
    assert plain[0] == pytest.approx(0.2, abs=0.03)
    assert ramped[0] < 0.06
    assert ramped[0] < ramped[1] < ramped[2] < ramped[3]
    assert ramped[4] == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["balancers.l7.params={slow_start_window: -1}"], "slow_start_window must be finite"),
        (["balancers.l7.algorithm=maglev", "balancers.l7.params={slow_start_window: 5}"],
         "does not apply"),
        (["balancers.l4.algorithm=round_robin", "balancers.l4.params={slow_start_window: 5}"],
         "use weighted_round_robin"),
        (["balancers.l7.algorithm=p2c", "balancers.l7.params={choices: 1}"], "choices"),
    ],
)  # fmt: skip
def test_bad_parameters_name_the_params_key(overrides, fragment):
    sc = load_scenario("scale_out", overrides)
    with pytest.raises(ScenarioError) as info:
        check_buildable(sc)
    message = str(info.value)
    assert "params" in message
    assert fragment in message


@pytest.mark.parametrize(
    "overrides",
    [
        ["balancers.l7.algorithm=maglev", "balancers.l7.params={balance_factor: 1.25}"],
        ["balancers.l7.algorithm=consistent_hash", "balancers.l7.params={balance_factor: 1.1}"],
        ["balancers.l7.algorithm=p2c", "balancers.l7.params={replacement: true, choices: 3}"],
        ["balancers.l7.algorithm=weighted_round_robin"],
    ],
)
def test_new_parameters_run_at_layer_7(overrides):
    sc = load_scenario("scale_out", ["duration=6s", *overrides])
    requests = run_variant(sc, "l7").recorder.requests
    assert requests
    assert all(r.outcome == "ok" for r in requests)
    assert len({r.backend for r in requests}) == 4


@pytest.mark.parametrize(
    "overrides",
    [
        ["balancers.l4.algorithm=maglev", "balancers.l4.params={balance_factor: 1.25}"],
        ["balancers.l4.algorithm=two_choices", "balancers.l4.params={replacement: true}"],
        ["balancers.l4.algorithm=least_connections", "balancers.l4.params={slow_start_window: 5}"],
    ],
)
def test_new_parameters_run_at_layer_4(overrides):
    sc = load_scenario("scale_out", ["duration=6s", *overrides])
    requests = run_variant(sc, "l4").recorder.requests
    assert requests
    assert all(r.outcome == "ok" for r in requests)


def checked_picks(algorithm, factor: float, log: list[tuple[int, int]]) -> None:
    """Wrap ``algorithm.pick`` to log (load after the pick, cap) for every placement."""
    pick = algorithm.pick

    def checking(candidates, now, key=None):
        total = sum(c.active for c in candidates)
        chosen = pick(candidates, now, key)
        log.append((chosen.active + 1, theory.bounded_load_cap(factor, total, len(candidates))))
        return chosen

    algorithm.pick = checking


@pytest.mark.parametrize("bounded", [True, False])
@pytest.mark.parametrize("layer", [4, 7])
@pytest.mark.parametrize("algorithm", ["maglev", "consistent_hash"])
def test_bounded_loads_hold_in_the_engine(layer, algorithm, bounded):
    """Every placement of the real balancer (connections at L4, requests at L7)
    leaves the chosen backend within ceil(c * average): the balancer's own
    in-flight counts are what the algorithm reads.  Without the balance factor the
    same runs break that cap (in about 15-40 % of the placements)."""
    name = f"l{layer}"
    params = "{balance_factor: 1.25}" if bounded else "{}"
    sc = load_scenario(
        "scale_out",
        [
            "duration=8s",
            "clients.services.count=40",
            f"balancers.{name}.algorithm={algorithm}",
            f"balancers.{name}.params={params}",
        ],
    )
    build = build_variant(sc, name)
    algorithms = (
        [build.lb.algorithm] if layer == 4 else [r.algorithm for r in build.lb.router.rules]
    )
    log: list[tuple[int, int]] = []
    for algo in algorithms:
        checked_picks(algo, 1.25, log)
    run = build.run()
    assert len(log) > 40
    over = sum(load > cap for load, cap in log)
    assert over == 0 if bounded else over / len(log) > 0.1
    assert all(r.outcome == "ok" for r in run.recorder.requests)
