"""NewReno in isolation, and the connection's inlined fast path agreeing with it."""

from __future__ import annotations

import pytest
from tcp_pair import Pair

from lbsim.transport.congestion import FAST_RETRANSMIT, NOTHING, SEND_MORE, NewReno
from lbsim.transport.params import TcpParams

MSS = 1000


def test_initial_window_is_ten_segments_of_the_negotiated_mss() -> None:
    cc = NewReno(10, 1460)
    assert cc.cwnd == 14_600
    cc.reset_window(MSS)
    assert cc.cwnd == 10 * MSS


def test_slow_start_grows_by_bytes_acked_at_most_one_mss_per_ack() -> None:
    cc = NewReno(10, MSS)
    cc.on_ack(400, MSS)
    assert cc.cwnd == 10_400
    cc.on_ack(5 * MSS, MSS)  # a stretch ACK still adds one MSS (RFC 5681 3.1)
    assert cc.cwnd == 11_400


def test_congestion_avoidance_adds_about_one_mss_per_window() -> None:
    cc = NewReno(10, MSS)
    cc.ssthresh = 10 * MSS
    for _ in range(10):  # one window's worth of ACKs
        cc.on_ack(MSS, MSS)
    assert 10 * MSS + 900 <= cc.cwnd <= 11 * MSS


def test_three_duplicate_acks_trigger_fast_retransmit_and_recovery() -> None:
    cc = NewReno(10, MSS)
    cc.cwnd = 20 * MSS
    flight, snd_max = 20 * MSS, 50_001
    assert cc.on_duplicate_ack(flight, snd_max, MSS) == NOTHING
    assert cc.on_duplicate_ack(flight, snd_max, MSS) == NOTHING
    assert cc.on_duplicate_ack(flight, snd_max, MSS) == FAST_RETRANSMIT
    assert cc.in_recovery and cc.recover == snd_max
    assert cc.ssthresh == 10 * MSS
    assert cc.cwnd == 13 * MSS  # ssthresh + 3 MSS
    assert cc.on_duplicate_ack(flight, snd_max, MSS) == SEND_MORE
    assert cc.cwnd == 14 * MSS


def test_partial_ack_deflates_and_full_ack_ends_recovery() -> None:
    cc = NewReno(10, MSS)
    cc.cwnd = 20 * MSS
    for _ in range(3):
        cc.on_duplicate_ack(20 * MSS, 50_001, MSS)
    assert cc.on_recovery_ack(40_001, 2 * MSS, MSS) is True  # partial: resend next hole
    assert cc.cwnd == 13 * MSS - 2 * MSS + MSS and cc.in_recovery
    assert cc.on_recovery_ack(50_001, 5 * MSS, MSS) is False
    assert not cc.in_recovery and cc.cwnd == cc.ssthresh == 10 * MSS


def test_ssthresh_never_below_two_segments() -> None:
    cc = NewReno(10, MSS)
    cc.on_timeout(MSS, MSS)
    assert cc.ssthresh == 2 * MSS and cc.cwnd == MSS and not cc.in_recovery


def test_restart_after_idle_only_shrinks() -> None:
    cc = NewReno(10, MSS)
    cc.cwnd = 50 * MSS
    cc.restart_after_idle(MSS)
    assert cc.cwnd == 10 * MSS
    cc.cwnd = 3 * MSS
    cc.restart_after_idle(MSS)
    assert cc.cwnd == 3 * MSS


@pytest.mark.parametrize("delayed_ack", [True, False])
def test_connection_fast_path_grows_cwnd_exactly_as_newreno_on_ack(delayed_ack: bool) -> None:
    """The inlined growth in TcpConnection._on_new_ack is NewReno.on_ack, ACK for ACK."""
    pair = Pair(params=TcpParams(delayed_ack=delayed_ack))
    pair.handshake()
    pair.client.cc.ssthresh = 30 * 1460  # cross into congestion avoidance on the way
    start = pair.client.cwnd
    pair.client.send(400_000, "m", pair.now)
    pair.run()
    reference = NewReno(10, 1460, 2 if delayed_ack else 1)
    reference.cwnd = start
    reference.ssthresh = 30 * 1460
    acks = [s.ack for s in pair.sent("s>c") if not s.length]
    prev = None
    for ack in acks:
        if prev is not None and ack > prev:
            reference.on_ack(ack - prev, 1460)
        prev = ack
    assert pair.client.retransmissions == 0
    assert pair.client.cwnd == reference.cwnd > 30 * 1460
