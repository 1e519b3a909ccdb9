"""X.509 certificates of an exact size, in DER, for the Certificate messages of captures.

Theory of operation: Wireshark decodes the certificates in a TLS Certificate
message (subject, issuer, validity, key, extensions), so opaque bytes would show
as malformed. :func:`certificate` writes a small but well-formed X.509 v3
certificate (RFC 5280 4.1) whose DER encoding is exactly as long as the simulation
says the certificate is (:data:`lbsim.app.tls.wire.CERTIFICATE_CHAIN`). The subject
public key has the right shape for the key type (an RSA-2048 modulus and exponent,
or an uncompressed P-256 point), and the signature the right size for the
issuer's key type; their bits are pseudo-random, derived from a seed, so the same
certificate always has the same bytes. Nothing here is cryptographically valid.

The certificate is brought to its size by the URI of a certification practice
statement (a ``certificatePolicies`` extension with a CPS qualifier, as CA-issued
certificates carry). DER lengths grow by a byte at 128 and 256 bytes, so a size can
fall into a step that one URI length cannot reach; then the serial number (16 to
20 bytes, RFC 5280 4.1.2.2) takes up the difference.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from lbsim.app.tls.wire import sni_bytes

__all__ = ["certificate", "der_length"]

# Object identifiers (RFC 5280, RFC 3279, RFC 5758, RFC 5480).
_SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_PRIME256V1 = "1.2.840.10045.3.1.7"
_COUNTRY = "2.5.4.6"
_ORGANIZATION = "2.5.4.10"
_COMMON_NAME = "2.5.4.3"
_KEY_USAGE = "2.5.29.15"
_SUBJECT_ALT_NAME = "2.5.29.17"
_BASIC_CONSTRAINTS = "2.5.29.19"
_CERTIFICATE_POLICIES = "2.5.29.32"
_DOMAIN_VALIDATED = "2.23.140.1.2.1"  # CA/Browser Forum baseline, domain validated
_CPS = "1.3.6.1.5.5.7.2.1"  # id-qt-cps
_CPS_PREFIX = "http://cps.lbsim.example/"


def der_length(n: int) -> bytes:
    """A DER length: one byte below 128, else 0x80 + count, then big-endian bytes."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, *content: bytes) -> bytes:
    value = b"".join(content)
    return bytes((tag,)) + der_length(len(value)) + value


def _seq(*content: bytes) -> bytes:
    return _tlv(0x30, *content)


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray((40 * arcs[0] + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _name(common_name: str) -> bytes:
    """Name: C=ZZ, O=lbsim, CN=``common_name`` (RDN sequence)."""

    def rdn(oid: str, tag: int, value: str) -> bytes:
        return _tlv(0x31, _seq(_oid(oid), _tlv(tag, value.encode("utf-8"))))

    return _seq(
        rdn(_COUNTRY, 0x13, "ZZ"),
        rdn(_ORGANIZATION, 0x0C, "lbsim"),
        rdn(_COMMON_NAME, 0x0C, common_name),
    )


def _random(seed: bytes, label: bytes, n: int) -> bytes:
    return hashlib.shake_256(seed + b"|" + label).digest(n)


def _algorithm(key: str) -> bytes:
    """AlgorithmIdentifier of the signature made with a ``key`` type key."""
    if key == "rsa2048":
        return _seq(_oid(_SHA256_WITH_RSA), b"\x05\x00")
    return _seq(_oid(_ECDSA_WITH_SHA256))


def _public_key(key: str, seed: bytes) -> bytes:
    """SubjectPublicKeyInfo: 294 bytes for RSA-2048, 91 for P-256."""
    if key == "rsa2048":
        modulus = b"\x00" + bytes((0x80 | _random(seed, b"n", 1)[0],)) + _random(seed, b"n", 255)
        rsa_key = _seq(_tlv(0x02, modulus), _tlv(0x02, b"\x01\x00\x01"))
        return _seq(_seq(_oid(_RSA_ENCRYPTION), b"\x05\x00"), _tlv(0x03, b"\x00", rsa_key))
    point = b"\x04" + _random(seed, b"xy", 64)
    return _seq(_seq(_oid(_EC_PUBLIC_KEY), _oid(_PRIME256V1)), _tlv(0x03, b"\x00", point))


def _signature(key: str, seed: bytes) -> bytes:
    """The signature BIT STRING: 256 bytes for RSA-2048, a 71-byte ECDSA-Sig-Value."""
    if key == "rsa2048":
        return _tlv(0x03, b"\x00", _random(seed, b"sig", 256))
    r = b"\x00" + bytes((0x80 | _random(seed, b"r", 1)[0],)) + _random(seed, b"r", 31)
    s = bytes((0x7F & _random(seed, b"s", 1)[0] | 0x01,)) + _random(seed, b"s", 31)
    return _tlv(0x03, b"\x00", _seq(_tlv(0x02, r), _tlv(0x02, s)))


def _extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    flag = b"\x01\x01\xff" if critical else b""
    return _seq(_oid(oid), flag, _tlv(0x04, value))


def _build(
    serial: int,
    pad: int,
    subject: str,
    issuer: str,
    key: str,
    issuer_key: str,
    ca: bool,
    seed: bytes,
) -> bytes:
    if ca:
        constraints = _extension(_BASIC_CONSTRAINTS, _seq(b"\x01\x01\xff"), critical=True)
        usage = _extension(_KEY_USAGE, _tlv(0x03, b"\x01\x06"), critical=True)  # certSign, cRLSign
        extra = b""
    else:
        constraints = _extension(_BASIC_CONSTRAINTS, _seq(), critical=True)
        usage = _extension(_KEY_USAGE, _tlv(0x03, b"\x07\x80"), critical=True)  # digitalSignature
        extra = _extension(_SUBJECT_ALT_NAME, _seq(_tlv(0x82, sni_bytes(subject))))
    uri = (_CPS_PREFIX + "p" * pad).encode("ascii")
    qualifier = _seq(_oid(_CPS), _tlv(0x16, uri))
    policies = _extension(
        _CERTIFICATE_POLICIES, _seq(_seq(_oid(_DOMAIN_VALIDATED), _seq(qualifier)))
    )
    serial_bytes = bytes((0x40 | _random(seed, b"serial", 1)[0] & 0x3F,))
    serial_bytes += _random(seed, b"serial", serial - 1)
    tbs = _seq(
        _tlv(0xA0, _tlv(0x02, b"\x02")),  # version v3
        _tlv(0x02, serial_bytes),
        _algorithm(issuer_key),
        _name(issuer),
        _seq(_tlv(0x17, b"250101000000Z"), _tlv(0x17, b"351231235959Z")),
        _name(subject),
        _public_key(key, seed),
        _tlv(0xA3, _seq(constraints, usage, extra, policies)),
    )
    return _seq(tbs, _algorithm(issuer_key), _signature(issuer_key, seed))


@lru_cache(maxsize=64)
def certificate(
    length: int,
    subject: str,
    issuer: str,
    key: str,
    issuer_key: str,
    *,
    ca: bool = False,
    seed: bytes = b"",
) -> bytes:
    """A DER X.509 certificate of exactly ``length`` bytes.

    Args:
        length: Size of the DER encoding.
        subject: Subject common name (a leaf also gets it as a DNS SAN).
        issuer: Issuer common name.
        key: Subject key type, ``"rsa2048"`` or ``"ecdsa_p256"``.
        issuer_key: Issuer key type (sets the signature algorithm and size).
        ca: A CA certificate (basicConstraints CA, keyCertSign) instead of a leaf.
        seed: Varies the pseudo-random fields.

    Returns:
        The certificate.

    Raises:
        ValueError: If ``length`` is below the smallest such certificate.
    """
    smallest = None
    for serial in (16, 17, 18, 19, 20):
        base = len(_build(serial, 0, subject, issuer, key, issuer_key, ca, seed))
        smallest = base if smallest is None else min(smallest, base)
        # Each of the dozen enclosing lengths can grow by up to two bytes.
        pad = max(0, length - base - 24)
        while True:
            der = _build(serial, pad, subject, issuer, key, issuer_key, ca, seed)
            if len(der) >= length:
                break
            pad += 1
        if len(der) == length:
            return der
    raise ValueError(f"no {key} certificate of {length} bytes (smallest: {smallest})")
