"""Payload bytes for simulated segments, synthesized from application message marks.

Theory of operation: the engine never materialises payload bytes. A segment only
says how many bytes it carries (``length``), where they sit in the stream (its
sequence number) and which application messages *end* inside it (``ends``). Each
direction of a TCP connection is a sequence of whole messages back to back, so a
message marked as ending at stream offset ``end`` occupies ``[end - size, end)``.
A :class:`ByteStream` collects those marks for one direction and, on demand, cuts
any byte range out of the stream it implies: :meth:`ByteStream.read` walks the
messages overlapping the range and asks each message's *encoding* for its slice.
Nothing is stored per byte and nothing per packet; a retransmission asks for the
same range again and gets the same bytes, because every encoding is a pure function
of its message.

Encodings are chosen per message type through a small registry
(:func:`register_encoder`), so other protocols plug in without touching the
capture code: HTTP/1.1 requests and responses are registered here; a TLS model
registers its handshake messages and application-data records the same way.
Bytes that no known message covers (a message still incomplete when the run
ended, or a type nobody registered) are filled with a neutral text pattern.

HTTP/1.1 encoding: a request is its request line, ``Host`` (as
:meth:`~lbsim.app.http.HttpRequest.head` gives them), ``User-Agent``, ``Accept``,
``X-Request-Id`` (the simulator's request id, to match ``requests.csv``) and the
request's own headers (each name once: a ``User-Agent`` the client set replaces
the default one); a proxy's ``X-Forwarded-For`` and ``Forwarded`` are among them
on the backend side, and are the last of them to be dropped. A request whose
method carries a body (``POST``, ``PUT``, ``PATCH``) gets ``Content-Type`` and
``Content-Length`` and a filler body; any other method is brought to its size
with a ``Cookie`` header, as browsers' requests are, up to :data:`MAX_HEAD`
bytes, and beyond that with a body and ``Content-Length``.
A response is its status line, ``Server`` (who produced it), ``Content-Type``,
``Content-Length`` and ``X-Request-Id``, then a filler body, so it is exactly
``size`` bytes. When a message is too small for all of that, the least useful
headers are dropped first (``Accept``, ``User-Agent``, ...); below the shortest
valid head (request or status line, plus ``Content-Length`` for a response) the
head is cut to ``size`` bytes, which Wireshark then shows as an incomplete message.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any, Protocol

from lbsim.app.http import HttpRequest, HttpResponse

__all__ = [
    "MAX_HEAD",
    "ByteStream",
    "Encoder",
    "Filler",
    "HeadAndBody",
    "MessageBytes",
    "encode",
    "encode_request",
    "encode_response",
    "register_encoder",
]

#: Largest HTTP head the encoder writes; bigger bodiless requests get a body.
MAX_HEAD = 8192
#: Methods whose requests carry a body.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: Statuses whose responses never have a body (RFC 9110 6.4.1).
_NO_BODY_STATUS = frozenset({204, 304})
_USER_AGENT = b"lbsim/0.1 (simulated client)"
#: Request headers kept longer than the others when a small request must drop
#: some: the client-address headers a proxy added are what the backend side shows.
_KEEP = {b"x-forwarded-for": 4, b"forwarded": 4}
_CRLF = b"\r\n"


class MessageBytes(Protocol):
    """The bytes of one application message, readable by range."""

    @property
    def size(self) -> int:
        """Bytes the message occupies in the stream."""
        ...

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the message (``0 <= start <= stop <= size``)."""
        ...


#: Makes the encoding of one message.
Encoder = Callable[[Any], MessageBytes]


class Filler:
    """A periodic, printable byte pattern, cut anywhere without materialising it.

    Attributes:
        pattern: One period of the pattern.
    """

    __slots__ = ("_double", "_period", "pattern")

    def __init__(self, line: bytes, repeat: int = 128) -> None:
        self.pattern = line * repeat
        self._period = len(self.pattern)
        self._double = self.pattern * 2

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the infinite repetition of the pattern."""
        period = self._period
        first = start % period
        n = stop - start
        if n <= period:
            return self._double[first : first + n]
        parts = [self._double[first:period], self.pattern * ((n - (period - first)) // period)]
        tail = (n - (period - first)) % period
        parts.append(self.pattern[:tail])
        return b"".join(parts)


#: Body filler: lines of text, so a body reads as text in Wireshark. No
#: colon: Wireshark reads lines with one as headers when a capture starts mid-body.
BODY = Filler(b"lbsim synthetic body - these bytes stand in for the real content\n")
#: Stream bytes that no known message covers.
UNKNOWN = Filler(b"lbsim - bytes of a message the capture did not see completed...\n")


class HeadAndBody:
    """A message made of a text head followed by a filler body.

    Attributes:
        head: The head bytes (possibly the whole message).
        size: Total size in bytes.
    """

    __slots__ = ("head", "size")

    def __init__(self, head: bytes, size: int) -> None:
        self.head = head[:size]
        self.size = size

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)``: from the head, then from the body filler."""
        head = self.head
        cut = len(head)
        if stop <= cut:
            return head[start:stop]
        if start >= cut:
            return BODY.read(start - cut, stop - cut)
        return head[start:] + BODY.read(0, stop - cut)

    def __repr__(self) -> str:
        return f"HeadAndBody(head={self.head[:60]!r}..., size={self.size})"


class OpaqueBytes:
    """A message of a type no encoder is registered for: a label, then filler.

    Attributes:
        head: The label line (cut to the size).
        size: Total size in bytes.
    """

    __slots__ = ("head", "size")

    def __init__(self, size: int, label: bytes = b"") -> None:
        self.head = label[:size]
        self.size = size

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)``: from the label, then from the filler."""
        head = self.head
        cut = len(head)
        if stop <= cut:
            return head[start:stop]
        if start >= cut:
            return UNKNOWN.read(start - cut, stop - cut)
        return head[start:] + UNKNOWN.read(0, stop - cut)


# ------------------------------------------------------------------ registry

_ENCODERS: dict[type, Encoder] = {}


def register_encoder(message_type: type, encoder: Encoder) -> None:
    """Make ``encoder`` produce the bytes of every message of ``message_type``.

    Subclasses use their closest registered base class's encoder unless they have
    their own. Registering again replaces the previous encoder.

    Args:
        message_type: Class of the messages (e.g. a TLS handshake message).
        encoder: Called with one message; returns its :class:`MessageBytes`, whose
            ``size`` should equal the message's size in the stream.
    """
    _ENCODERS[message_type] = encoder


def encode(message: Any) -> MessageBytes:
    """The bytes of one message, by the encoder registered for its type.

    Args:
        message: An application message carried as a mark in a TCP stream.

    Returns:
        Its encoding. Without an encoder for its type: a line naming the type and
        the request id, if any (``lbsim RawRequest browsers-0-3``), then filler,
        ``message.size`` bytes in all.
    """
    for klass in type(message).__mro__:
        encoder = _ENCODERS.get(klass)
        if encoder is not None:
            return encoder(message)
    request = message if hasattr(message, "request_id") else getattr(message, "request", None)
    request_id = getattr(request, "request_id", "")
    label = f"lbsim {type(message).__name__} {request_id}".rstrip() + "\n"
    return OpaqueBytes(max(0, int(getattr(message, "size", 0))), label.encode("utf-8"))


# ---------------------------------------------------------------------- HTTP


def _body_length(room: int) -> tuple[bytes, int] | None:
    """Digits of ``Content-Length`` and the spare byte count, filling ``room`` bytes.

    ``room`` bytes must hold the digits and the body. The number of digits depends
    on the body length, so widths are tried in turn. Just below a power of ten no
    width may fit exactly (room 11: one digit leaves a 10-byte body, two digits a
    9-byte one); then the body is one byte shorter and one byte is left spare.

    Returns:
        The digits and the spare byte count (0 or 1), or ``None`` if nothing fits.
    """
    for digits in range(1, 14):
        body = room - digits
        if body < 0:
            return None
        text = str(body).encode("ascii")
        if len(text) == digits:
            return text, 0
        if len(text) < digits:
            return text, digits - len(text)
    return None  # pragma: no cover - sizes beyond a terabyte


def _fit(
    start_line: bytes,
    headers: list[tuple[bytes, bytes | None, int]],
    size: int,
    *,
    body: bool,
    pad_name: bytes,
) -> bytes:
    """The head of a message of exactly ``size`` bytes (head plus filler body).

    Args:
        start_line: Request or status line, without CRLF.
        headers: ``(name, value, keep)`` in display order; when the message is too
            small, headers with the lowest ``keep`` are dropped first. With
            ``body``, one of them is ``Content-Length`` with value ``None`` (it
            is filled in and never dropped).
        size: Total message size.
        body: Fill with a body of ``Content-Length`` bytes; otherwise grow the head
            with a ``pad_name`` header (or with spaces after the last header value
            when fewer bytes are missing than a header line needs).
        pad_name: Name of the padding header.

    Returns:
        Head bytes; the body filler makes up the rest of ``size``.
    """
    by_keep = sorted(range(len(headers)), key=lambda i: headers[i][2])
    fixed = len(start_line) + 2 * len(_CRLF)
    for dropped in range(len(headers) + 1):
        gone = set(by_keep[:dropped])
        kept = [h for i, h in enumerate(headers) if i not in gone]
        if body and not any(v is None for _, v, _ in kept):
            break
        room = size - fixed - sum(len(n) + 4 + len(v or b"") for n, v, _ in kept)
        spare = 0
        if body:
            found = _body_length(room)
            if found is None:
                continue
            digits, spare = found
            if spare and len(kept) == 1:
                digits, spare = b"0" * spare + digits, 0  # 1*DIGIT allows leading zeros
            kept = [(n, digits if v is None else v, k) for n, v, k in kept]
        elif room > 0:
            for name in (pad_name, b"X"):
                # A header line "name: v" needs len(name) + 5 bytes with CRLF.
                if room >= len(name) + 5:
                    kept.append((name, _pad_value(room - len(name) - 4), 0))
                    room = 0
                    break
            if room and not kept:
                continue
            spare = room
        elif room < 0:
            continue
        if spare:
            # Optional whitespace after a field value is allowed (RFC 9110 5.5); it
            # goes to the least important header other than Content-Length.
            others = [i for i, (n, _, _) in enumerate(kept) if n != b"Content-Length"]
            i = min(others, key=lambda j: kept[j][2])
            name, value, keep = kept[i]
            kept[i] = (name, (value or b"") + b" " * spare, keep)
        lines = [start_line, *(n + b": " + (v or b"") for n, v, _ in kept)]
        return _CRLF.join(lines) + _CRLF + _CRLF
    # Not even the shortest head fits: cut it (see the module docstring).
    tail = b"Content-Length: 0" + _CRLF if body else b""
    return (start_line + _CRLF + tail + _CRLF)[:size]


def _pad_value(length: int) -> bytes:
    """Padding shaped like a cookie, ``lbsim=xxxx...``, of ``length`` bytes."""
    text = b"lbsim=" + b"x" * max(0, length - 6)
    return text[:length]


def _content_type(path: str) -> bytes:
    """A media type for a path whose body is filler text.

    Only types whose Wireshark dissectors accept any bytes are used (an image or
    JSON type would make Wireshark report the filler as malformed).
    """
    tail = path.split("?", 1)[0].rsplit("/", 1)[-1]
    if tail == "" or tail.endswith((".html", ".htm")):
        return b"text/html"
    if tail.endswith((".txt", ".css", ".js", ".csv")):
        return b"text/plain"
    return b"application/octet-stream"


def encode_request(req: HttpRequest) -> HeadAndBody:
    """The bytes of an HTTP/1.1 request, exactly ``req.size`` of them.

    Args:
        req: The simulated request.

    Returns:
        Its head and filler body (see the module docstring for the layout).
    """
    lines = req.head().encode("utf-8").split(_CRLF)
    own = {name.lower().encode("utf-8") for name, _ in req.headers}
    synthetic = [
        (name, value, keep)
        for name, value, keep in (
            (b"User-Agent", _USER_AGENT, 1),
            (b"Accept", b"*/*", 0),
            (b"X-Request-Id", req.request_id.encode("utf-8"), 2),
        )
        if name.lower() not in own  # a header the request carries is not written twice
    ]
    headers: list[tuple[bytes, bytes | None, int]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b": ")
        if not sep:
            continue
        if name.lower() == b"host":
            headers += [(name, value, 5), *synthetic]
            synthetic = []
        else:
            headers.append((name, value, _KEEP.get(name.lower(), 3)))
    headers += synthetic
    body = req.method in BODY_METHODS or req.size > MAX_HEAD
    if body:
        headers += [(b"Content-Type", b"application/octet-stream", 1), (b"Content-Length", None, 9)]
    head = _fit(lines[0], headers, req.size, body=body, pad_name=b"Cookie")
    return HeadAndBody(head, req.size)


def encode_response(resp: HttpResponse) -> HeadAndBody:
    """The bytes of an HTTP/1.1 response, exactly ``resp.size`` of them.

    Args:
        resp: The simulated response.

    Returns:
        Its head and filler body; a response to ``HEAD`` (or a 1xx, 204 or 304)
        has no body and is padded with a header instead. A response that answers
        no request (a balancer refusing one it has not finished reading) has a
        body and no ``X-Request-Id``.
    """
    start_line = resp.head().encode("utf-8").split(_CRLF, 1)[0]
    req = resp.request
    method = "GET" if req is None else req.method
    bodiless = method == "HEAD" or resp.status in _NO_BODY_STATUS or resp.status < 200
    headers: list[tuple[bytes, bytes | None, int]] = [(b"Server", resp.server.encode("utf-8"), 0)]
    if not bodiless:
        path = "/" if req is None else req.path
        headers += [(b"Content-Type", _content_type(path), 2), (b"Content-Length", None, 9)]
    if req is not None:
        headers.append((b"X-Request-Id", req.request_id.encode("utf-8"), 1))
    head = _fit(start_line, headers, resp.size, body=not bodiless, pad_name=b"X-Padding")
    return HeadAndBody(head, resp.size)


register_encoder(HttpRequest, encode_request)
register_encoder(HttpResponse, encode_response)


# -------------------------------------------------------------- byte streams


class ByteStream:
    """One direction of one TCP connection: message marks, and bytes on demand.

    Offsets are 0-based positions in the direction's data (the first byte after
    the SYN is offset 0).
    """

    __slots__ = ("_cached", "_ends", "_messages")

    def __init__(self) -> None:
        self._ends: list[int] = []
        self._messages: list[Any] = []
        self._cached: tuple[int, MessageBytes] | None = None

    def __len__(self) -> int:
        return len(self._ends)

    def mark(self, end: int, message: Any) -> None:
        """Note that ``message`` ends just before stream offset ``end``.

        Marks may come more than once (retransmissions) and out of order (a
        segment seen only when retransmitted); both are fine.
        """
        ends = self._ends
        if not ends or end > ends[-1]:
            ends.append(end)
            self._messages.append(message)
            return
        i = bisect_right(ends, end)
        if i and ends[i - 1] == end:
            return
        ends.insert(i, end)
        self._messages.insert(i, message)
        self._cached = None

    def message_at(self, index: int) -> MessageBytes:
        """Encoding of the ``index``-th message (the last one is cached)."""
        cached = self._cached
        if cached is not None and cached[0] == index:
            return cached[1]
        encoded = encode(self._messages[index])
        self._cached = (index, encoded)
        return encoded

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the stream.

        Args:
            start: First offset.
            stop: One past the last offset.

        Returns:
            ``stop - start`` bytes: slices of the messages covering the range, and
            :data:`UNKNOWN` filler where no known message does.
        """
        ends = self._ends
        parts: list[bytes] = []
        pos = start
        i = bisect_right(ends, pos)
        while pos < stop:
            if i >= len(ends):
                parts.append(UNKNOWN.read(pos, stop))
                break
            end = ends[i]
            encoded = self.message_at(i)
            begin = end - encoded.size
            if pos < begin:
                gap_end = min(stop, begin)
                parts.append(UNKNOWN.read(pos, gap_end))
                pos = gap_end
                continue
            take = min(stop, end)
            parts.append(encoded.read(pos - begin, take - begin))
            pos = take
            i += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)
