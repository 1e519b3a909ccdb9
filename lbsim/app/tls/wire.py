"""TLS on the wire: the record layer, and how long each handshake message is.

Theory of operation: the simulator never builds TLS bytes, but it must know how
many there are, because bytes are what TCP carries and what a capture shows. This
module is the single source of those lengths. A *record* (RFC 8446 5.1, RFC 5246
6.2) is a 5-byte header (content type, legacy version, length) and a fragment of
at most 2**14 plaintext bytes. Once keys are in use the fragment is sealed with an
AEAD cipher (AES-GCM here) and grows by a fixed amount per record:

====================  ======================================================  =====
version               per-record overhead                                      bytes
====================  ======================================================  =====
TLS 1.2, AES-GCM      header 5 + explicit nonce 8 (RFC 5288 3) + tag 16         29
TLS 1.3, AES-GCM      header 5 + inner content type 1 (RFC 8446 5.2) + tag 16   22
====================  ======================================================  =====

(ChaCha20-Poly1305 also has a 16-byte tag and, in TLS 1.2, no explicit nonce; the
model uses AES-128-GCM throughout, the suite most servers pick.) TLS 1.3 padding
is not used, and records are always filled to 2**14 bytes: real stacks sometimes
start a connection with small records (dynamic record sizing), which the model
ignores.

Handshake messages are a 4-byte header (type, 24-bit length) and a body. The body
lengths below follow the structures of RFC 8446 section 4 and RFC 5246 section 7.4
field by field, for the messages an OpenSSL-like server and a browser-like client
exchange with X25519 key exchange, AES-128-GCM and an HTTP/1.1 ALPN offer. Where a
message carries extensions, the module lists them as ``(extension type, body
length)`` pairs; :mod:`lbsim.capture.tls` writes the bytes from the same lists, so
a capture and the simulation agree to the byte. Typical sizes that are not fixed
by the protocol (certificates, signatures, session tickets) are named constants
with their sources.
"""

from __future__ import annotations

__all__ = [
    "AEAD_TAG",
    "ALERT",
    "ALPN_PROTOCOLS",
    "APPLICATION_DATA",
    "BINDER",
    "CERTIFICATE",
    "CERTIFICATE_CHAIN",
    "CERTIFICATE_VERIFY",
    "CHANGE_CIPHER_SPEC",
    "CIPHER_SUITES",
    "CLIENT_HELLO",
    "CLIENT_HELLO_PADDED",
    "CLIENT_HELLO_RECORD_VERSION",
    "CLIENT_KEY_EXCHANGE",
    "ENCRYPTED_EXTENSIONS",
    "EXPLICIT_NONCE",
    "EXT_ALPN",
    "EXT_EC_POINT_FORMATS",
    "EXT_EXTENDED_MASTER_SECRET",
    "EXT_KEY_SHARE",
    "EXT_PADDING",
    "EXT_PRE_SHARED_KEY",
    "EXT_PSK_KEY_EXCHANGE_MODES",
    "EXT_RENEGOTIATION_INFO",
    "EXT_SERVER_NAME",
    "EXT_SESSION_TICKET",
    "EXT_SIGNATURE_ALGORITHMS",
    "EXT_SUPPORTED_GROUPS",
    "EXT_SUPPORTED_VERSIONS",
    "FINISHED",
    "FINISHED_SIZE",
    "GROUPS",
    "HANDSHAKE",
    "HANDSHAKE_HEADER",
    "INNER_TYPE",
    "KEY_TYPES",
    "MAX_FRAGMENT",
    "NEW_SESSION_TICKET",
    "RANDOM",
    "RECORD_HEADER",
    "RECORD_VERSION",
    "SELECTED_SUITE",
    "SERVER_HELLO",
    "SERVER_HELLO_DONE",
    "SERVER_KEY_EXCHANGE",
    "SESSION_ID",
    "SIGNATURE_SCHEME",
    "SIGNATURE_SCHEMES",
    "SIGNATURE_SIZE",
    "SUPPORTED_VERSIONS",
    "TICKET_NONCE",
    "TICKET_SIZE",
    "TLS_VERSIONS",
    "X25519",
    "X25519_KEY",
    "Extensions",
    "certificate_length",
    "certificate_verify_length",
    "client_hello_extensions",
    "client_hello_length",
    "client_key_exchange_length",
    "encrypted_extensions",
    "extensions_length",
    "new_session_ticket_length",
    "per_record_overhead",
    "record_overhead",
    "sealed_length",
    "server_hello_extensions",
    "server_hello_length",
    "server_key_exchange_length",
    "sni_bytes",
]

TLS_VERSIONS = ("1.2", "1.3")
KEY_TYPES = ("rsa2048", "ecdsa_p256")

# ------------------------------------------------------------------ records

#: Record content types (RFC 8446 5.1; RFC 5246 6.2.1).
CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23

#: Record header: type (1), legacy_record_version (2), length (2).
RECORD_HEADER = 5
#: Largest plaintext fragment of one record, 2**14 (RFC 8446 5.1, RFC 5246 6.2.1).
MAX_FRAGMENT = 16384
#: AES-GCM authentication tag (RFC 5116 5.1; RFC 5288 3; RFC 8446 5.2).
AEAD_TAG = 16
#: TLS 1.2 AES-GCM ``nonce_explicit`` sent in every record (RFC 5288 section 3).
EXPLICIT_NONCE = 8
#: TLS 1.3 ``TLSInnerPlaintext.type``: the real content type, inside the seal.
INNER_TYPE = 1
#: Handshake message header: msg_type (1), length (uint24).
HANDSHAKE_HEADER = 4
#: Record header version bytes: TLS 1.2's, used by every record in both versions
#: (RFC 8446 5.1), except that a ClientHello's record says TLS 1.0 for old servers.
RECORD_VERSION = 0x0303
CLIENT_HELLO_RECORD_VERSION = 0x0301

# ----------------------------------------------------- handshake message types

CLIENT_HELLO = 1
SERVER_HELLO = 2
NEW_SESSION_TICKET = 4
ENCRYPTED_EXTENSIONS = 8
CERTIFICATE = 11
SERVER_KEY_EXCHANGE = 12
SERVER_HELLO_DONE = 14
CERTIFICATE_VERIFY = 15
CLIENT_KEY_EXCHANGE = 16
FINISHED = 20

# --------------------------------------------------------- extension types

EXT_SERVER_NAME = 0  # RFC 6066 3
EXT_SUPPORTED_GROUPS = 10  # RFC 8422 5.1.1
EXT_EC_POINT_FORMATS = 11  # RFC 8422 5.1.2
EXT_SIGNATURE_ALGORITHMS = 13  # RFC 8446 4.2.3
EXT_ALPN = 16  # RFC 7301
EXT_PADDING = 21  # RFC 7685
EXT_EXTENDED_MASTER_SECRET = 23  # RFC 7627
EXT_SESSION_TICKET = 35  # RFC 5077
EXT_PRE_SHARED_KEY = 41  # RFC 8446 4.2.11
EXT_SUPPORTED_VERSIONS = 43  # RFC 8446 4.2.1
EXT_PSK_KEY_EXCHANGE_MODES = 45  # RFC 8446 4.2.9
EXT_KEY_SHARE = 51  # RFC 8446 4.2.8
EXT_RENEGOTIATION_INFO = 0xFF01  # RFC 5746

# ------------------------------------------------------ what is offered

#: Cipher suites a client offers: a TLS 1.3 client also offers 1.2 suites (a
#: server that only speaks 1.2 can then still answer); a 1.2-only client offers
#: ECDHE suites with AEAD ciphers (RFC 5289, RFC 7905).
CIPHER_SUITES: dict[str, tuple[int, ...]] = {
    "1.3": (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8),
    "1.2": (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8),
}
#: The suite a server picks: TLS_AES_128_GCM_SHA256 in 1.3; in 1.2
#: ECDHE-ECDSA-AES128-GCM-SHA256 or ECDHE-RSA-AES128-GCM-SHA256 by key type.
SELECTED_SUITE: dict[tuple[str, str], int] = {
    ("1.3", "rsa2048"): 0x1301,
    ("1.3", "ecdsa_p256"): 0x1301,
    ("1.2", "rsa2048"): 0xC02F,
    ("1.2", "ecdsa_p256"): 0xC02B,
}
#: Named groups offered: x25519, secp256r1, secp384r1 (RFC 8446 4.2.7).
GROUPS = (0x001D, 0x0017, 0x0018)
#: The group used for the key exchange (X25519, RFC 7748).
X25519 = 0x001D
#: X25519 public key (RFC 7748 section 5).
X25519_KEY = 32
#: Signature schemes offered (RFC 8446 4.2.3), ECDSA and RSA-PSS first.
SIGNATURE_SCHEMES = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
#: Scheme a server signs with, per key type: ecdsa_secp256r1_sha256 or
#: rsa_pss_rsae_sha256 (TLS 1.3 requires PSS for RSA; OpenSSL prefers it in 1.2).
SIGNATURE_SCHEME = {"rsa2048": 0x0804, "ecdsa_p256": 0x0403}
#: ALPN offer: the simulator speaks HTTP/1.1.
ALPN_PROTOCOLS = (b"http/1.1",)
#: Versions a TLS 1.3 client lists in supported_versions.
SUPPORTED_VERSIONS = (0x0304, 0x0303)
#: ``legacy_session_id``: 32 random bytes (RFC 8446 D.4 middlebox compatibility;
#: RFC 5077 3.4 for a 1.2 client offering a ticket); a 1.2 server's new session id.
SESSION_ID = 32
#: ``Random`` of both hellos.
RANDOM = 32
#: ClientHellos shorter than this are padded up to it (RFC 7685), as browsers do
#: (BoringSSL pads to 512 bytes to step around a server bug that hung on
#: ClientHellos of 256-511 bytes). Real ClientHellos range from about 250 bytes
#: (curl without padding) to over 1.7 KB (browsers sending a post-quantum key
#: share); 512 bytes, 517 on the wire, is the classic browser size.
CLIENT_HELLO_PADDED = 512

# ------------------------------------------------- sizes the protocol leaves open

#: Signature sizes: RSA-2048 is 256 bytes; an ECDSA P-256 signature is a DER
#: SEQUENCE of two INTEGERs, 70 to 72 bytes (each integer gains a zero byte when
#: its top bit is set, probability 1/2), most often 71.
SIGNATURE_SIZE = {"rsa2048": 256, "ecdsa_p256": 71}
#: DER sizes of the server's certificate chain (leaf, intermediate); the root is
#: not sent. Typical web PKI chains: an RSA-2048 leaf is about 1.3-1.5 KB and its
#: RSA intermediate about 1.3 KB (2.5-3 KB together); ECDSA certificates are
#: smaller (a P-256 public key is 91 bytes of SubjectPublicKeyInfo against 294
#: for RSA-2048, a signature about 71-103 bytes against 256), so an ECDSA leaf and
#: intermediate take 1.5-2 KB. Names, SANs, SCTs, policies and AIA URLs make up the
#: rest of each certificate.
CERTIFICATE_CHAIN: dict[str, tuple[int, ...]] = {
    "rsa2048": (1400, 1300),
    "ecdsa_p256": (950, 850),
}
#: Session ticket size. Tickets are opaque to the client; OpenSSL's are a 16-byte
#: key name, a 16-byte IV, the encrypted session state (about 100-200 bytes) and a
#: 32-byte HMAC, so about 150-250 bytes.
TICKET_SIZE = 192
#: TLS 1.3 ticket_nonce length (OpenSSL uses an 8-byte counter).
TICKET_NONCE = 8
#: Finished ``verify_data``: 12 bytes in TLS 1.2 (RFC 5246 7.4.9); the hash length
#: in TLS 1.3, 32 for SHA-256 suites (RFC 8446 4.4.4).
FINISHED_SIZE = {"1.2": 12, "1.3": 32}
#: A TLS 1.3 PSK binder: an HMAC with the suite's hash, SHA-256 (RFC 8446 4.2.11.2).
BINDER = 32


# ------------------------------------------------------------- record sizes


def per_record_overhead(version: str) -> int:
    """Bytes a sealed record adds to its plaintext (table in the module docstring).

    Args:
        version: ``"1.2"`` or ``"1.3"``.

    Returns:
        29 for TLS 1.2 (AES-GCM), 22 for TLS 1.3.

    Raises:
        ValueError: For an unknown version.
    """
    if version == "1.3":
        return RECORD_HEADER + INNER_TYPE + AEAD_TAG
    if version == "1.2":
        return RECORD_HEADER + EXPLICIT_NONCE + AEAD_TAG
    raise ValueError(f"unknown TLS version {version!r} (known: {', '.join(TLS_VERSIONS)})")


def record_overhead(nbytes: int, version: str) -> int:
    """Bytes added to ``nbytes`` of application data by cutting it into sealed records.

    The data is cut into ``ceil(nbytes / 16384)`` records of at most 2**14 plaintext
    bytes (RFC 8446 5.1, RFC 5246 6.2.1); each adds :func:`per_record_overhead`.
    Zero bytes make no record and add nothing.

    Args:
        nbytes: Plaintext bytes (an application message's size).
        version: ``"1.2"`` or ``"1.3"``.

    Returns:
        The overhead in bytes, e.g. for 1, 16384, 16385 and 100000 bytes: 29, 29,
        58, 203 in TLS 1.2 and 22, 22, 44, 154 in TLS 1.3.

    Raises:
        ValueError: For a negative size or an unknown version.
    """
    if nbytes < 0:
        raise ValueError(f"negative size {nbytes}")
    return -(-nbytes // MAX_FRAGMENT) * per_record_overhead(version)


def sealed_length(plaintext: int, version: str) -> int:
    """Fragment length (after the 5-byte header) of one sealed record.

    Args:
        plaintext: Plaintext bytes in the record (at most 2**14).
        version: ``"1.2"`` or ``"1.3"``.

    Returns:
        ``plaintext`` plus the overhead of :func:`per_record_overhead` minus the
        header.
    """
    return plaintext + per_record_overhead(version) - RECORD_HEADER


# --------------------------------------------------------- message lengths

#: Extensions of one handshake message: ``(extension type, body length)``.
Extensions = tuple[tuple[int, int], ...]


def extensions_length(extensions: Extensions) -> int:
    """Bytes of an extensions block: its 2-byte length and 4 header bytes per extension."""
    return 2 + sum(4 + n for _, n in extensions)


def sni_bytes(sni: str) -> bytes:
    """The server name as sent in ``server_name``: its IDNA (ASCII) form.

    A name IDNA cannot encode (a label over 63 characters, say) is sent as UTF-8,
    as a careless client would.
    """
    try:
        return sni.encode("idna")
    except UnicodeError:
        return sni.encode("utf-8")


def _alpn_length() -> int:
    """ProtocolNameList: 2-byte length, then a length byte and the name per protocol."""
    return 2 + sum(1 + len(p) for p in ALPN_PROTOCOLS)


def client_hello_extensions(version: str, sni: str, ticket: int | None) -> Extensions:
    """The extensions of a ClientHello, in the order they are sent.

    Args:
        version: The version the client speaks (a 1.2 client sends no TLS 1.3
            extensions).
        sni: Server name (RFC 6066 ``server_name``).
        ticket: Size of the session ticket offered, or ``None`` for none (TLS 1.2
            puts it in ``session_ticket``, TLS 1.3 in ``pre_shared_key``).

    Returns:
        ``(type, body length)`` pairs, with a ``padding`` extension that brings the
        message to :data:`CLIENT_HELLO_PADDED` bytes when it is shorter, placed
        before ``pre_shared_key``, which must come last (RFC 8446 4.2.11).
    """
    name = len(sni_bytes(sni))
    exts: list[tuple[int, int]] = [
        (EXT_SERVER_NAME, 2 + 1 + 2 + name),
        (EXT_EC_POINT_FORMATS, 1 + 1),
        (EXT_SUPPORTED_GROUPS, 2 + 2 * len(GROUPS)),
        (EXT_SESSION_TICKET, ticket if version == "1.2" and ticket is not None else 0),
        (EXT_ALPN, _alpn_length()),
        (EXT_EXTENDED_MASTER_SECRET, 0),
        (EXT_SIGNATURE_ALGORITHMS, 2 + 2 * len(SIGNATURE_SCHEMES)),
    ]
    last: list[tuple[int, int]] = []
    if version == "1.3":
        exts += [
            (EXT_SUPPORTED_VERSIONS, 1 + 2 * len(SUPPORTED_VERSIONS)),
            (EXT_PSK_KEY_EXCHANGE_MODES, 1 + 1),
            (EXT_KEY_SHARE, 2 + 2 + 2 + X25519_KEY),
        ]
        if ticket is not None:
            # identities<2>: identity<2> + obfuscated_ticket_age(4); binders<2>: <1> + HMAC.
            last.append((EXT_PRE_SHARED_KEY, 2 + 2 + ticket + 4 + 2 + 1 + BINDER))
    fixed = HANDSHAKE_HEADER + _hello_fixed(version, client=True)
    natural = fixed + extensions_length((*exts, *last))
    if natural + 4 <= CLIENT_HELLO_PADDED:
        exts.append((EXT_PADDING, CLIENT_HELLO_PADDED - natural - 4))
    return (*exts, *last)


def _hello_fixed(version: str, *, client: bool) -> int:
    """Body bytes of a hello before its extensions block."""
    if client:
        # legacy_version, random, session id<1>, cipher_suites<2>, compression<1>.
        return 2 + RANDOM + 1 + SESSION_ID + 2 + 2 * len(CIPHER_SUITES[version]) + 1 + 1
    # legacy_version, random, session id<1>, cipher_suite, compression_method.
    return 2 + RANDOM + 1 + SESSION_ID + 2 + 1


def client_hello_length(version: str, sni: str, ticket: int | None) -> int:
    """Body length of a ClientHello (see :func:`client_hello_extensions`)."""
    exts = client_hello_extensions(version, sni, ticket)
    return _hello_fixed(version, client=True) + extensions_length(exts)


def server_hello_extensions(version: str, resumed: bool, issue_ticket: bool) -> Extensions:
    """The extensions of a ServerHello.

    TLS 1.3 (RFC 8446 4.1.3): ``supported_versions`` (TLS 1.3), ``key_share`` (the
    server's X25519 share) and, when resuming, ``pre_shared_key`` (the chosen
    identity). TLS 1.2: an empty ``server_name`` acknowledging SNI (not on
    resumption, RFC 6066 3), ``renegotiation_info`` (RFC 5746), ``ec_point_formats``,
    ``extended_master_secret``, the chosen ALPN protocol and, when the server will
    send a ticket in a full handshake, an empty ``session_ticket`` (RFC 5077 3.2).

    Args:
        version: Negotiated version.
        resumed: Whether the server resumes the offered session.
        issue_ticket: Whether it will send a NewSessionTicket (TLS 1.2 only).

    Returns:
        ``(type, body length)`` pairs.
    """
    if version == "1.3":
        exts = [(EXT_SUPPORTED_VERSIONS, 2), (EXT_KEY_SHARE, 2 + 2 + X25519_KEY)]
        if resumed:
            exts.append((EXT_PRE_SHARED_KEY, 2))
        return tuple(exts)
    exts = [] if resumed else [(EXT_SERVER_NAME, 0)]
    exts += [
        (EXT_RENEGOTIATION_INFO, 1),
        (EXT_EC_POINT_FORMATS, 1 + 1),
        (EXT_EXTENDED_MASTER_SECRET, 0),
        (EXT_ALPN, 2 + 1 + len(ALPN_PROTOCOLS[0])),
    ]
    if issue_ticket and not resumed:
        exts.append((EXT_SESSION_TICKET, 0))
    return tuple(exts)


def server_hello_length(version: str, resumed: bool, issue_ticket: bool) -> int:
    """Body length of a ServerHello (see :func:`server_hello_extensions`)."""
    exts = server_hello_extensions(version, resumed, issue_ticket)
    return _hello_fixed(version, client=False) + extensions_length(exts)


def encrypted_extensions(resumed: bool) -> Extensions:
    """TLS 1.3 EncryptedExtensions: the SNI acknowledgement and the ALPN choice."""
    exts = [] if resumed else [(EXT_SERVER_NAME, 0)]
    return (*exts, (EXT_ALPN, 2 + 1 + len(ALPN_PROTOCOLS[0])))


def certificate_length(version: str, key: str) -> int:
    """Body length of the server's Certificate message.

    TLS 1.3 (RFC 8446 4.4.2): request context<1>, certificate_list<3>, and per
    certificate its DER<3> and an empty extensions<2>. TLS 1.2 (RFC 5246 7.4.2):
    certificate_list<3> of DER<3>.
    """
    chain = CERTIFICATE_CHAIN[key]
    if version == "1.3":
        return 1 + 3 + sum(3 + der + 2 for der in chain)
    return 3 + sum(3 + der for der in chain)


def certificate_verify_length(key: str) -> int:
    """TLS 1.3 CertificateVerify: scheme (2), signature<2>."""
    return 2 + 2 + SIGNATURE_SIZE[key]


def server_key_exchange_length(key: str) -> int:
    """TLS 1.2 ECDHE ServerKeyExchange (RFC 8422 5.4).

    curve_type (1), named curve (2), public key<1>, then the signature: scheme (2),
    signature<2>.
    """
    return 1 + 2 + 1 + X25519_KEY + 2 + 2 + SIGNATURE_SIZE[key]


def client_key_exchange_length() -> int:
    """TLS 1.2 ECDHE ClientKeyExchange: the client's public key<1> (RFC 8422 5.7)."""
    return 1 + X25519_KEY


def new_session_ticket_length(version: str) -> int:
    """NewSessionTicket body.

    TLS 1.2 (RFC 5077 3.3): lifetime hint (4), ticket<2>. TLS 1.3 (RFC 8446 4.6.1):
    lifetime (4), age_add (4), nonce<1>, ticket<2>, extensions<2> (none).
    """
    if version == "1.3":
        return 4 + 4 + 1 + TICKET_NONCE + 2 + TICKET_SIZE + 2
    return 4 + 2 + TICKET_SIZE
