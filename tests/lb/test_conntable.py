"""The connection table without SimPy: states, timeouts, capacity, reuse."""

from __future__ import annotations

import pytest

from lbsim.lb.conntable import (
    FROM_BACKEND,
    FROM_CLIENT,
    ConnectionTable,
    EntryState,
    Timeouts,
)
from lbsim.net.segment import ACK, FIN, RST, SYN


def test_defaults_are_the_ipvs_timeouts() -> None:
    t = Timeouts()
    assert (t.established, t.syn_recv, t.fin_wait, t.time_wait, t.close) == (900, 60, 120, 120, 10)


def test_lifecycle_of_a_clean_connection() -> None:
    table = ConnectionTable()
    e = table.open(1, 1000, "web-1", 0.0)
    assert e is not None and e.state is EntryState.SYN_RECV
    table.observe(e, SYN | ACK, FROM_BACKEND, 0.01)
    assert e.state is EntryState.SYN_RECV
    table.observe(e, ACK, FROM_CLIENT, 0.02)
    assert e.state is EntryState.ESTABLISHED
    assert table.expiry(e) == pytest.approx(0.02 + 900)
    table.observe(e, FIN | ACK, FROM_CLIENT, 1.0)
    assert e.state is EntryState.FIN_WAIT
    table.observe(e, FIN | ACK, FROM_BACKEND, 1.01)
    assert e.state is EntryState.FIN_WAIT  # both FINs seen, last ACK not yet
    table.observe(e, ACK, FROM_CLIENT, 1.02)
    assert e.state is EntryState.TIME_WAIT
    assert table.counts() == {
        "SYN_RECV": 0,
        "ESTABLISHED": 0,
        "FIN_WAIT": 0,
        "TIME_WAIT": 1,
        "CLOSE": 0,
    }
    assert not table.expire(e, 1.02 + 119.9)
    assert table.expire(e, 1.02 + 120.0)
    assert len(table) == 0 and table.expired == 1


def test_reset_moves_to_close_with_a_short_timeout() -> None:
    table = ConnectionTable()
    e = table.open(1, 1000, "b", 0.0)
    assert e is not None
    table.observe(e, RST, FROM_BACKEND, 5.0)
    assert e.state is EntryState.CLOSE
    assert table.expiry(e) == pytest.approx(15.0)


def test_capacity_refuses_new_entries() -> None:
    table = ConnectionTable(capacity=2)
    assert table.open(1, 1, "b", 0) is not None
    assert table.open(1, 2, "b", 0) is not None
    assert table.open(1, 3, "b", 0) is None
    assert table.refused == 1 and table.peak == 2


def test_a_new_syn_replaces_an_entry_in_time_wait() -> None:
    table = ConnectionTable(capacity=1)
    old = table.open(1, 1, "web-1", 0)
    assert old is not None
    table.set_state(old, EntryState.TIME_WAIT)
    assert table.reusable(old)
    new = table.open(1, 1, "web-2", 5)  # same client port, table full: still allowed
    assert new is not None and new is not old and new.backend == "web-2"
    assert table.get(1, 1) is new and len(table) == 1


def test_snapshot_rows() -> None:
    table = ConnectionTable()
    e = table.open(7, 99, "web-3", 1.0)
    assert e is not None
    table.observe(e, ACK, FROM_CLIENT, 2.0)
    (row,) = table.snapshot(3.0)
    assert row["backend"] == "web-3" and row["state"] == "ESTABLISHED"
    assert row["age"] == 2.0 and row["idle"] == 1.0 and row["expires_in"] == 899.0
