"""The floor under lbsim's request level: its hops on the AsyncFlow workload, and nothing else.

Theory of operation: lbsim's request level sends one scheduled call per message
per link. A one-request connection through an L4 NAT balancer crosses 12 links
(SYN, SYN-ACK, request, response and both FINs, two links each), and its request
also waits for a backend worker and a service time. This module runs the AsyncFlow
workload (``benchmarks/asyncflow_workload.yaml``: Poisson arrivals at 280/s, one
request per connection, round robin over 4 single-worker servers, exponential 10 ms
service, 1 ms links at 1 Gbit/s) with exactly that skeleton and no more:

* a per-session random generator seeded from the arrivals' stream (lbsim seeds one
  per session, so that every variant sees the same draws);
* each hop a call scheduled at the message's arrival, with each link's
  serialisation (a FIFO ``busy until``) and its propagation delay;
* a balancer CPU charged per segment (FIFO, 1 us), a NAT table entry per
  connection with its state and packet count, round robin placement;
* a backend worker with a FIFO queue;
* one 27-field slotted record per request.

No TCP state, ports, timers, HTTP messages, decisions, counters, limits or fault
handling: those are what lbsim adds on top. With ``closed_form=True`` the
handshake and the close are not sent but computed when the SYN reaches the
balancer and when the response reaches the client (each hop's time and the CPU
charge in closed form), leaving 7 scheduled calls per request: the arrival, the
SYN and the request at the balancer, the request at the backend, the end of
service, and the response at the balancer and at the client.

What it shows: the cost per request of a request-level engine's skeleton, in the
unit of ``units_per_request.py`` (bare SimPy timeouts), against which the target
of 45 units per request can be judged. This is a benchmark model, not part of
lbsim; it computes no result anyone reads.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from typing import Any

import simpy

from lbsim.sched import call_at, run_until

#: Bytes on the wire of a segment without payload, and with the workload's request
#: (400 B) and response (1 KB) payloads (40 B of IPv4 and TCP headers, 18 B of
#: Ethernet framing, 20 B of preamble and gap).
_EMPTY, _REQUEST, _RESPONSE = 84, 478, 1102
_CPU_PER_SEGMENT = 1e-6


class _Link:
    """A link's serialisation queue (FIFO) and propagation delay."""

    __slots__ = ("busy_until", "byte_time", "latency")

    def __init__(self, latency: float, bits_per_second: float) -> None:
        self.busy_until = 0.0
        self.latency = latency
        self.byte_time = 8.0 / bits_per_second

    def arrival(self, ready: float, wire_bytes: int) -> float:
        """When a message of ``wire_bytes`` handed over at ``ready`` arrives at the far end."""
        start = self.busy_until if self.busy_until > ready else ready
        done = start + wire_bytes * self.byte_time
        self.busy_until = done
        return done + self.latency


class _Cpu:
    """One core, first come first served."""

    __slots__ = ("free",)

    def __init__(self) -> None:
        self.free = 0.0

    def run(self, now: float, cost: float) -> float:
        """Queue a job arriving at ``now``; return when it is done."""
        start = self.free if self.free > now else now
        self.free = start + cost
        return self.free


class _Entry:
    """A NAT table entry."""

    __slots__ = ("backend", "last_seen", "packets", "state")

    def __init__(self, backend: _Backend, now: float) -> None:
        self.backend = backend
        self.state = "SYN_RECV"
        self.last_seen = now
        self.packets = 1


class _Backend:
    """A server with one worker and a FIFO queue behind a link of its own."""

    __slots__ = ("busy", "link", "name", "queue")

    def __init__(self, name: str) -> None:
        self.name = name
        self.link = _Link(0.001, 1e9)
        self.queue: deque[_Connection] = deque()
        self.busy = False


class _Connection:
    """One session's connection: its stream, link, table entry and backend."""

    __slots__ = ("backend", "entry", "index", "link", "rng", "t_start")

    def __init__(self, index: int, rng: random.Random, now: float) -> None:
        self.index = index
        self.rng = rng
        self.t_start = now
        self.link = _Link(0.001, 1e9)  # the client's own access link
        self.entry: _Entry | None = None
        self.backend: _Backend | None = None


#: A request record of lbsim's width (27 fields), built as lbsim builds its records:
#: a slotted dataclass's generated ``__init__`` (plain slot stores).
_Record = dataclasses.make_dataclass("_Record", [f"field{i}" for i in range(27)], slots=True)


def run(duration: float, closed_form: bool = False, seed: int = 1) -> int:
    """Run the skeleton for ``duration`` simulated seconds; return the requests recorded.

    Args:
        duration: Arrivals stop after this many simulated seconds.
        closed_form: Compute the handshake and the close instead of sending them.
        seed: Seed of the arrivals' stream (session streams derive from it).
    """
    env = simpy.Environment()

    arrivals = random.Random(seed)
    cpu = _Cpu()
    table: dict[int, _Entry] = {}
    backends = [_Backend(f"srv-{i}") for i in range(4)]
    turn = [0]
    records: list[Any] = []

    def arrive() -> None:
        now = env._now
        if now >= duration:
            return
        call_at(env, now + arrivals.expovariate(280.0), arrive)
        conn = _Connection(len(records), random.Random(arrivals.getrandbits(64)), now)
        call_at(env, conn.link.arrival(now, _EMPTY), syn_at_balancer, conn)

    def syn_at_balancer(conn: _Connection) -> None:
        now = env._now
        ready = cpu.run(now, _CPU_PER_SEGMENT)
        backend = backends[turn[0]]
        turn[0] = (turn[0] + 1) % len(backends)
        entry = conn.entry = table[conn.index] = _Entry(backend, now)
        conn.backend = backend
        there = backend.link.arrival(ready, _EMPTY)
        if not closed_form:
            call_at(env, there, syn_at_backend, conn)
            return
        back = cpu.run(backend.link.arrival(there, _EMPTY), _CPU_PER_SEGMENT)
        entry.state = "ESTABLISHED"
        entry.packets += 1
        sent = conn.link.arrival(back, _EMPTY)  # the client has the SYN-ACK: it sends
        call_at(env, conn.link.arrival(sent, _REQUEST), request_at_balancer, conn)

    def syn_at_backend(conn: _Connection) -> None:
        assert conn.backend is not None
        call_at(env, conn.backend.link.arrival(env._now, _EMPTY), synack_at_balancer, conn)

    def synack_at_balancer(conn: _Connection) -> None:
        now = env._now
        ready = cpu.run(now, _CPU_PER_SEGMENT)
        entry = conn.entry
        assert entry is not None
        entry.state = "ESTABLISHED"
        entry.last_seen = now
        entry.packets += 1
        call_at(env, conn.link.arrival(ready, _EMPTY), synack_at_client, conn)

    def synack_at_client(conn: _Connection) -> None:
        call_at(env, conn.link.arrival(env._now, _REQUEST), request_at_balancer, conn)

    def request_at_balancer(conn: _Connection) -> None:
        now = env._now
        ready = cpu.run(now, 2 * _CPU_PER_SEGMENT)  # the request and the handshake's ACK
        entry = conn.entry
        assert entry is not None and conn.backend is not None
        entry.last_seen = now
        entry.packets += 2
        call_at(env, conn.backend.link.arrival(ready, _REQUEST), request_at_backend, conn)

    def request_at_backend(conn: _Connection) -> None:
        backend = conn.backend
        assert backend is not None
        if backend.busy:
            backend.queue.append(conn)
        else:
            backend.busy = True
            serve(backend, conn)

    def serve(backend: _Backend, conn: _Connection) -> None:
        call_at(env, env._now + conn.rng.expovariate(100.0), served, backend, conn)

    def served(backend: _Backend, conn: _Connection) -> None:
        call_at(env, backend.link.arrival(env._now, _RESPONSE), response_at_balancer, conn)
        if backend.queue:
            serve(backend, backend.queue.popleft())
        else:
            backend.busy = False

    def response_at_balancer(conn: _Connection) -> None:
        now = env._now
        ready = cpu.run(now, 2 * _CPU_PER_SEGMENT)  # the response and its ACK
        entry = conn.entry
        assert entry is not None
        entry.last_seen = now
        entry.packets += 2
        call_at(env, conn.link.arrival(ready, _RESPONSE), response_at_client, conn)

    def response_at_client(conn: _Connection) -> None:
        now = env._now
        backend = conn.backend
        assert backend is not None
        records.append(
            _Record(
                "l4", f"users-{conn.index}-0", "users", f"users-{conn.index}-c0", backend.name,
                "GET", "/", 200, "ok", conn.t_start, now, 400, 1000, False, True, 0,
                None, None, None, None, None, None, None, 1, 1, None, None,
            )
        )  # fmt: skip
        fin = conn.link.arrival(now, _EMPTY)
        if not closed_form:
            call_at(env, fin, fin_at_balancer, conn)
            return
        entry = conn.entry
        assert entry is not None
        there = backend.link.arrival(cpu.run(fin, _CPU_PER_SEGMENT), _EMPTY)
        entry.state = "FIN_WAIT"
        back = cpu.run(backend.link.arrival(there, _EMPTY), _CPU_PER_SEGMENT)
        entry.state = "TIME_WAIT"
        entry.last_seen = back
        conn.link.arrival(back, _EMPTY)

    def fin_at_balancer(conn: _Connection) -> None:
        now = env._now
        ready = cpu.run(now, _CPU_PER_SEGMENT)
        entry = conn.entry
        assert entry is not None and conn.backend is not None
        entry.state = "FIN_WAIT"
        entry.last_seen = now
        call_at(env, conn.backend.link.arrival(ready, _EMPTY), fin_at_backend, conn)

    def fin_at_backend(conn: _Connection) -> None:
        assert conn.backend is not None
        call_at(env, conn.backend.link.arrival(env._now, _EMPTY), backend_fin_at_balancer, conn)

    def backend_fin_at_balancer(conn: _Connection) -> None:
        now = env._now
        ready = cpu.run(now, _CPU_PER_SEGMENT)
        entry = conn.entry
        assert entry is not None
        entry.state = "TIME_WAIT"
        entry.last_seen = now
        call_at(env, conn.link.arrival(ready, _EMPTY), backend_fin_at_client, conn)

    def backend_fin_at_client(conn: _Connection) -> None:
        """The client's connection would enter TIME_WAIT here."""

    call_at(env, 0.0, arrive)
    end = env.event()
    call_at(env, duration + 5.0, end.succeed)
    run_until(env, end)
    return len(records)
