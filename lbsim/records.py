"""Records: the values a run emits, turned into DataFrames once at the end.

Theory of operation: the engine never builds tables while it runs. Each finished
request, each closed connection and (when traced) each segment on a link becomes
one immutable record appended to a :class:`Recorder`, whose record logs spill to
disk in chunks past a few thousand records (:mod:`lbsim.spill`), so memory does not
grow with the length of a run. Time series (table size, buffered bytes, CPU busy
time) are sampled into plain lists. ``lbsim.results``
converts all of it to pandas once, after the run. Columns are documented in
``docs/reference/outputs.md``; ``None`` means "not applicable", never ``False``.

Records built once per request or connection are built through
:func:`fast_constructor`, which makes the same frozen record for a fraction of the
cost of the dataclass's own ``__init__``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from lbsim.spill import RecordLog, SpillArea

_P = ParamSpec("_P")
_T = TypeVar("_T")


def fast_constructor(cls: Callable[_P, _T]) -> Callable[_P, _T]:
    """A constructor of the frozen slotted dataclass ``cls``, for values built per request.

    A frozen dataclass's ``__init__`` must get past its own ``__setattr__`` (which
    refuses every assignment), so it sets each field through ``object.__setattr__``:
    for a request record of 27 fields that costs about three bare SimPy timeouts.
    The constructor returned is one generated function (as :mod:`dataclasses`
    generates ``__init__``) with ``cls``'s parameters and defaults. It allocates an
    instance of a twin class with the same slots, which are not frozen, stores each
    field with a plain slot store (about a fifth of the cost), and makes the
    instance a ``cls`` by assigning ``__class__``, which Python allows between
    classes of identical slot layout. What it returns is an ordinary instance of
    ``cls``, as immutable, equal and hashable as one built by ``cls(...)``; it takes
    the same arguments. One call per value: no ``__init__`` or ``__post_init__``
    frame of a class.

    Args:
        cls: A dataclass declared with ``frozen=True, slots=True``.

    Returns:
        A callable taking ``cls``'s arguments and returning a ``cls``.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = tuple(f.name for f in fields)
    if getattr(cls, "__slots__", None) != names:
        raise TypeError(f"{cls!r} is not a slotted dataclass with only its fields as slots")
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": names})
    # The generated function's globals: the classes, the defaults and factories.
    space: dict[str, object] = {"_fc_new": object.__new__, "_fc_twin": twin, "_fc_cls": cls}
    space["_fc_factory"] = object()  # the default of a parameter with a default factory
    params: list[str] = []
    keyword_only: list[str] = []
    body = ["    _fc_obj = _fc_new(_fc_twin)"]
    for f in fields:
        name = f.name
        if name.startswith("_fc_"):
            raise TypeError(f"{cls!r}: field {name!r} clashes with the constructor's names")
        if f.default is not dataclasses.MISSING:
            space[f"_fc_default_{name}"] = f.default
            param, value, fixed = f"{name}=_fc_default_{name}", name, f"_fc_default_{name}"
        elif f.default_factory is not dataclasses.MISSING:
            space[f"_fc_make_{name}"] = f.default_factory
            param = f"{name}=_fc_factory"
            value = f"_fc_make_{name}() if {name} is _fc_factory else {name}"
            fixed = f"_fc_make_{name}()"
        else:
            param, value, fixed = name, name, ""
        if not f.init:  # not a parameter: set from its default or factory, as dataclasses does
            if not fixed:
                raise TypeError(f"{cls!r}: field {name!r} has init=False and no default")
            value = fixed
        elif f.kw_only:
            keyword_only.append(param)
        else:
            params.append(param)
        body.append(f"    _fc_obj.{name} = {value}")
    if keyword_only:
        params += ["*", *keyword_only]
    body += ["    _fc_obj.__class__ = _fc_cls", "    return _fc_obj"]
    source = f"def new({', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, space)  # the constructor's code, made from cls's own fields
    new = space["new"]
    new.__qualname__ = new.__name__ = f"new_{cls.__name__}"  # type: ignore[attr-defined]
    new.__doc__ = f"Build a {cls.__name__} (see :func:`lbsim.records.fast_constructor`)."
    return new  # type: ignore[return-value]


#: Values allowed in :attr:`RequestRecord.outcome`.
OUTCOMES = ("ok", "error", "blocked", "timeout", "rejected")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request a client issued, whatever became of it.

    Times are seconds of simulated time.

    Attributes:
        variant: Balancer variant name that carried the request.
        request_id: Stable id, identical across variants (``client-user-seq``).
        client: Client group name.
        connection: Client-side connection id (stable across variants).
        backend: Name of the backend that served it, ``None`` if none did.
        method: HTTP method (or ``RAW`` for raw protocols).
        path: Request path.
        status: HTTP status code, ``None`` when no response arrived.
        outcome: One of :data:`OUTCOMES`.
        t_start: When the client issued the request (before connecting, if needed).
        t_end: When the last response byte reached the client (or the failure time).
        request_bytes: Request size on the wire (application bytes).
        response_bytes: Response size on the wire (application bytes).
        cache_hit: ``True`` if a balancer cache answered, ``None`` if no cache exists.
        new_connection: Whether the client had to open a connection for it.
        index_on_connection: 0 for the first request on its connection, then 1, 2, ...
        service_time: Backend service time spent on it (``None`` if not served).
        queue_wait: Time it waited for a backend worker (``None`` if not served).
        t_backend_first_byte: When the first request byte reached the backend.
        t_backend_last_byte: When the last request byte reached the backend.
        t_lb_last_byte: When the last request byte reached the balancer (L7 only).
        reason: Short machine-readable reason for a non-``ok`` outcome.
        new_upstream: L7 only: whether the balancer had to open a new connection to
            the backend for it (``None`` where the balancer keeps no pool).
        upstream_tries: L7 only: tries the balancer made (above 1: it retried on
            another backend).
        attempts: Times the client sent it (above 1: the client retried after a
            failure, each time on a new connection).
        client_ip_seen: The peer address the backend that served it saw: the
            client's own behind a NAT or DSR balancer, the balancer's inside
            address behind a proxy (L4 proxy, L7), unless the connection began
            with a PROXY protocol header, whose client address it then is.
            ``None`` if no backend did.
        forwarded_for: The ``X-Forwarded-For`` header that backend received (the
            client's address, written by an L7 proxy); ``None`` without one.
    """

    variant: str
    request_id: str
    client: str
    connection: str
    backend: str | None
    method: str
    path: str
    status: int | None
    outcome: str
    t_start: float
    t_end: float
    request_bytes: int
    response_bytes: int
    cache_hit: bool | None = None
    new_connection: bool = False
    index_on_connection: int = 0
    service_time: float | None = None
    queue_wait: float | None = None
    t_backend_first_byte: float | None = None
    t_backend_last_byte: float | None = None
    t_lb_last_byte: float | None = None
    reason: str | None = None
    new_upstream: bool | None = None
    upstream_tries: int | None = None
    attempts: int = 1
    client_ip_seen: str | None = None
    forwarded_for: str | None = None

    @property
    def latency(self) -> float:
        """Issue-to-last-byte time in seconds."""
        return self.t_end - self.t_start


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One TCP connection's life, on either side of a balancer.

    Attributes:
        variant: Balancer variant name.
        connection: Connection id (client side ids match ``RequestRecord.connection``).
        side: ``client`` (client <-> balancer) or ``backend`` (balancer <-> backend).
        src: ``ip:port`` of the opener.
        dst: ``ip:port`` of the listener.
        backend: Backend name for backend-side connections (and L4 client-side ones).
        t_open: SYN sent.
        t_established: Handshake finished (``None`` if it never did).
        t_close: Closed or reset.
        requests: Requests carried.
        bytes_sent: Application bytes opener -> listener.
        bytes_received: Application bytes listener -> opener.
        segments: Segments in both directions as the opener counts them: all it
            sent (SYN, ACKs, retransmissions included) plus all it received.
        retransmissions: Segments sent again.
        reset: Whether the connection ended with RST.
    """

    variant: str
    connection: str
    side: str
    src: str
    dst: str
    backend: str | None
    t_open: float
    t_established: float | None
    t_close: float | None
    requests: int
    bytes_sent: int
    bytes_received: int
    segments: int
    retransmissions: int
    reset: bool


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One segment leaving onto a link (only when segment tracing is on).

    Header fields are the ones on the wire *on that link*, so NAT rewrites show up
    as differing addresses between the client-side and backend-side rows.
    """

    variant: str
    time: float
    link: str
    side: str
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: str
    window: int
    payload: int
    dropped: bool = False
    #: The TCP connection on this link, as its two endpoints in a fixed order
    #: (``ip:port-ip:port``, lower first), the same for both directions.
    connection: str = ""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision a device took about a connection or a request, as data.

    The teaching viewer renders a sentence from ``reason`` and ``values`` (it never
    receives prose), so a decision can be filtered, counted and translated.

    Attributes:
        time: When the device decided (seconds of simulated time).
        device: Node that decided (balancer variant name, ``router``, ...).
        reason: Machine-readable reason code, e.g. ``nat_miss``, ``mss_clamp``.
        connection: The client-side TCP connection it concerns, as
            :attr:`SegmentRecord.connection` writes it (``""`` if none).
        request: Request id it concerns (``None`` for connection decisions).
        backend: Backend chosen or concerned (``None`` if none).
        values: The values behind the decision, as ``(name, value)`` pairs.
    """

    time: float
    device: str
    reason: str
    connection: str = ""
    request: str | None = None
    backend: str | None = None
    values: tuple[tuple[str, str | int | float], ...] = ()


#: Fast constructors (:func:`fast_constructor`) of the records built per request,
#: per connection and per decision.
new_request_record = fast_constructor(RequestRecord)
new_connection_record = fast_constructor(ConnectionRecord)
new_decision = fast_constructor(DecisionRecord)
new_segment_record = fast_constructor(SegmentRecord)


@dataclass(slots=True)
class Recorder:
    """Collects records and samples for one variant's run.

    Components call the ``add_*`` methods or append to the logs; nothing here knows
    about pandas. The record logs are :class:`~lbsim.spill.RecordLog` sequences:
    past a few thousand records they keep their records in chunk files of
    ``spill`` (a temporary directory), so a long run's memory stays flat.
    """

    variant: str
    #: Where the record logs spill their chunks (deleted with the recorder).
    spill: SpillArea = field(default_factory=SpillArea, repr=False)
    requests: RecordLog[RequestRecord] = field(init=False)
    connections: RecordLog[ConnectionRecord] = field(init=False)
    segments: RecordLog[SegmentRecord] = field(init=False)
    #: Device decisions (one per connection or request decided, never per segment).
    decisions: RecordLog[DecisionRecord] = field(init=False)
    #: Named time series: name -> list of (time, value) samples.
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    #: Named counters (segments per side, drops, ...).
    counters: dict[str, float] = field(default_factory=dict)
    #: Keep per-request decisions too (set with segment tracing, as the teaching
    #: tools run): one record per request would otherwise grow without bound.
    detailed: bool = False

    def __post_init__(self) -> None:
        # Records read back from spilled chunks are built as the engine builds them.
        self.requests = RecordLog(RequestRecord, self.spill, make=new_request_record)
        self.connections = RecordLog(ConnectionRecord, self.spill, make=new_connection_record)
        self.segments = RecordLog(SegmentRecord, self.spill, make=new_segment_record)
        self.decisions = RecordLog(DecisionRecord, self.spill, make=new_decision)

    def sample(self, name: str, time: float, value: float) -> None:
        """Append one sample to the time series ``name``."""
        try:
            self.series[name].append((time, value))
        except KeyError:  # its first sample
            self.series[name] = [(time, value)]

    def decide(
        self,
        time: float,
        device: str,
        reason: str,
        *,
        connection: str = "",
        request: str | None = None,
        backend: str | None = None,
        **values: str | int | float,
    ) -> None:
        """Record one :class:`DecisionRecord` (``values`` keep their keyword order)."""
        record = new_decision(
            time, device, reason, connection, request, backend, tuple(values.items())
        )
        self.decisions.append(record)

    def count(self, name: str, amount: float = 1) -> None:
        """Add ``amount`` to the counter ``name``."""
        self.counters[name] = self.counters.get(name, 0) + amount
