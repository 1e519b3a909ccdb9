"""The closed forms in lbsim.theory reproduce the reference values of docs/validation.md."""

from __future__ import annotations

import pytest

from lbsim import theory


def test_mm1_reference() -> None:
    assert theory.mm1_response(80, 100) == pytest.approx(0.050)


@pytest.mark.parametrize(("c", "w"), [(1, 5.000), (2, 2.778), (4, 1.746), (8, 1.286)])
def test_mmc_reference_at_rho_08(c: int, w: float) -> None:
    # 1/mu = 1, rho = 0.8  ->  lam = 0.8 c
    assert theory.mmc_response(0.8 * c, 1.0, c) == pytest.approx(w, abs=0.0005)


def test_mmc_with_one_server_is_mm1() -> None:
    assert theory.mmc_response(0.8, 1.0, 1) == pytest.approx(theory.mm1_response(0.8, 1.0))


@pytest.mark.parametrize(("rho", "w"), [(0.8, 2.69), (0.9, 5.18)])
def test_round_robin_large_n_is_dm1(rho: float, w: float) -> None:
    assert theory.dm1_response(rho) == pytest.approx(w, abs=0.005)


@pytest.mark.parametrize(("rho", "w"), [(0.8, 1.95), (0.9, 2.61)])
def test_power_of_two_choices_large_n(rho: float, w: float) -> None:
    assert theory.p2c_response(rho) == pytest.approx(w, abs=0.005)


@pytest.mark.parametrize(("size", "rounds"), [(14_000, 1), (100_000, 3), (1_000_000, 7)])
def test_slow_start_reference(size: int, rounds: int) -> None:
    assert theory.slow_start_round_trips(size) == rounds


def test_port_ceiling_reference() -> None:
    assert theory.port_ceiling() == pytest.approx(28232 / 60)
    assert 465 < theory.port_ceiling() < 475


def test_balls_into_bins_leading_terms() -> None:
    assert theory.max_load_one_choice(10_000) == pytest.approx(4.15, abs=0.01)
    assert theory.max_load_two_choices(10_000) == pytest.approx(3.20, abs=0.01)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        theory.mm1_response(100, 100)
    with pytest.raises(ValueError):
        theory.erlang_c(2, 2.0)


@pytest.mark.parametrize(("lam", "w"), [(0.5, 1.2657), (0.7, 1.6145), (0.8, 1.9474), (0.9, 2.6141)])
def test_supermarket_model_reference(lam: float, w: float) -> None:
    # Mitzenmacher (2001), Table 1; d = 2 agrees with p2c_response, d = 1 is M/M/1.
    assert theory.supermarket_response(lam, 2) == pytest.approx(w, abs=5e-5)
    assert theory.supermarket_response(lam, 2) == pytest.approx(theory.p2c_response(lam))
    assert theory.supermarket_response(lam, 1) == pytest.approx(1 / (1 - lam))


@pytest.mark.parametrize("n", [1, 2, 5, 9])
@pytest.mark.parametrize("d", [1, 2, 3, 12])
@pytest.mark.parametrize("replacement", [True, False])
def test_choice_win_probabilities_sum_to_one(n: int, d: int, replacement: bool) -> None:
    probabilities = [theory.choice_win_probability(k, n, d, replacement) for k in range(1, n + 1)]
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities == sorted(probabilities, reverse=True)  # less loaded wins more
