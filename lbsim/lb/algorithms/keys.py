"""Deterministic 64-bit hashing for affinity keys and hash-table construction.

Theory of operation
-------------------
Python's built-in ``hash()`` of ``str``/``bytes`` is salted per process
(PYTHONHASHSEED), so a run that used it would not be reproducible.  ``stable_hash``
feeds a typed, length-prefixed encoding of its arguments to BLAKE2b with an 8-byte
digest: the same parts give the same 64-bit integer on every machine and in every
process, and ``("ab", "c")`` never collides with ``("a", "bc")`` by construction.

``mix64`` (defined in :mod:`lbsim.streams`, re-exported here) is the SplitMix64
finalizer: a cheap bijection on 64-bit integers with good avalanche, used where a
key must be spread over the whole 64-bit circle (the consistent-hash ring) even if
the caller passed a small or structured integer.
"""

from __future__ import annotations

import hashlib

from lbsim.streams import MASK64, mix64

__all__ = ["MASK64", "mix64", "stable_hash"]
_PERSON = b"lbsim.key"

_TAG_BYTES = b"b"
_TAG_STR = b"s"
_TAG_INT = b"i"


def stable_hash(*parts: str | int | bytes) -> int:
    """Hash the given parts to an unsigned 64-bit integer, identically in every process.

    Args:
        *parts: Strings (UTF-8), integers (any size, sign included) or bytes.

    Returns:
        An integer in ``[0, 2**64)``.

    Raises:
        TypeError: If a part is of another type.

    Example:
        >>> stable_hash("10.0.0.7", 51234) == stable_hash("10.0.0.7", 51234)
        True
    """
    h = hashlib.blake2b(digest_size=8, person=_PERSON)
    for part in parts:
        if isinstance(part, bytes | bytearray):
            tag, data = _TAG_BYTES, bytes(part)
        elif isinstance(part, str):
            tag, data = _TAG_STR, part.encode("utf-8")
        elif isinstance(part, int):
            tag, data = _TAG_INT, str(int(part)).encode("ascii")
        else:
            kind = type(part).__name__
            raise TypeError(f"stable_hash: cannot hash {kind} (use str, int or bytes)")
        h.update(tag + len(data).to_bytes(8, "big") + data)
    return int.from_bytes(h.digest(), "big")
