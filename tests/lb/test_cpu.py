"""The balancer's CPU: FIFO jobs on the core that frees up first, finish times known at once."""

from __future__ import annotations

import pytest

from lbsim.host.cpu import Cpu


def test_one_core_runs_jobs_back_to_back_in_arrival_order() -> None:
    cpu = Cpu(1)
    assert cpu.run(1.0, 0.5) == 1.5  # idle: starts at once
    assert cpu.run(1.2, 0.5) == 2.0  # waits 0.3 s for the first job
    assert cpu.run(3.0, 0.25) == 3.25  # idle again
    assert cpu.jobs == 3
    assert cpu.busy == pytest.approx(1.25)
    assert cpu.waited == pytest.approx(0.3)


def test_a_job_goes_to_the_core_that_frees_up_first() -> None:
    cpu = Cpu(2)
    assert cpu.run(0.0, 1.0) == 1.0  # core 0
    assert cpu.run(0.0, 0.4) == 0.4  # core 1
    assert cpu.run(0.1, 0.4) == 0.8  # core 1 frees first, at 0.4
    assert cpu.waited == pytest.approx(0.3)


@pytest.mark.parametrize("cores", [1, 2, 3])
def test_busy_by_counts_only_work_done_by_then(cores: int) -> None:
    """Work done by ``t`` (any ``t`` from the last arrival on), from each job's own interval."""
    cpu = Cpu(cores)
    jobs = [(0.0, 1.0), (0.2, 0.5), (0.3, 0.5), (0.3, 0.25)]
    spans = []
    for arrival, cost in jobs:
        end = cpu.run(arrival, cost)
        spans.append((end - cost, end))
    for t in (0.3, 0.5, 0.75, 1.0, 1.7, 5.0):
        done = sum(max(0.0, min(end, t) - start) for start, end in spans)
        assert cpu.busy_by(t) == pytest.approx(done, abs=1e-12), t
    assert cpu.busy_by(5.0) == sum(cost for _, cost in jobs)  # all done: exactly the work


def test_backlog_is_the_wait_a_new_job_would_see() -> None:
    cpu = Cpu(2)
    cpu.run(0.0, 1.0)
    assert cpu.backlog(0.5) == 0.0  # one core still idle
    cpu.run(0.0, 2.0)
    assert cpu.backlog(0.5) == pytest.approx(0.5)
    assert cpu.backlog(3.0) == 0.0


def test_a_cpu_needs_a_core() -> None:
    with pytest.raises(ValueError):
        Cpu(0)
