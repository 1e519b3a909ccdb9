"""CPU cost of TLS: public-key operations per handshake, and bulk encryption per byte.

Theory of operation: a TLS endpoint spends CPU in three places. A full handshake
costs the server one signature (it proves it holds the certificate's key) and one
ECDHE key exchange, and costs the client one signature verification and one ECDHE
key exchange. A resumed handshake skips the certificate and its signature. Every
byte of application data is then encrypted by the sender and decrypted by the
receiver with a symmetric cipher. :class:`TlsCosts` holds these costs in CPU
seconds on one core; the protocol model (:mod:`lbsim.app.tls.endpoint`) reports
them and the engine charges them to the core that does the work.

Defaults (one core of a current x86 server, OpenSSL):

=====================  ==========  ===================================================
operation              seconds     source
=====================  ==========  ===================================================
RSA-2048 sign          0.26 ms     docs/validation.md "Costs"
ECDSA P-256 sign       0.02 ms     docs/validation.md "Costs"
X25519 key exchange    0.03 ms     docs/validation.md "Costs" (one side)
RSA-2048 verify        0.01 ms     ``openssl speed rsa2048``: verifies run 20-30 times
                                   as fast as signs (public exponent 65537), e.g.
                                   0.676 ms sign / 0.022 ms verify on one machine;
                                   0.26 ms / 26
ECDSA P-256 verify     0.06 ms     ``openssl speed ecdsap256``: about a third as many
                                   verifies as signs per second, so 3 x 0.02 ms
AES-GCM, per byte      0.25 ns     docs/validation.md "Costs" (~4 GB/s per core)
=====================  ==========  ===================================================

Simplifications, chosen so the model teaches the main effect (the server's
signature dominates, and resumption removes it):

* the client verifies one signature (the server's handshake signature); checking
  the certificate chain's own signatures (usually two more, often RSA and cheap) is
  not charged;
* a resumed handshake costs each side one X25519 exchange. That is exact for TLS
  1.3, whose resumption is PSK-DHE (``psk_dhe_ke``, RFC 8446 4.2.9, what browsers
  and OpenSSL use). A TLS 1.2 abbreviated handshake does no public-key operation at
  all (the master secret comes from the ticket), so for 1.2 the X25519 term stands
  for the ticket decryption and key derivation and overstates them slightly;
* hashing the transcript and sealing the Finished messages are ignored (a few
  microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["TlsCosts"]


@dataclass(frozen=True, slots=True)
class TlsCosts:
    """CPU seconds of TLS operations on one core (sources in the module docstring).

    Attributes:
        rsa2048_sign: One RSA-2048 signature.
        ecdsa_p256_sign: One ECDSA P-256 signature.
        x25519: One ECDHE key exchange on one side (key generation and shared secret).
        rsa2048_verify: One RSA-2048 signature verification.
        ecdsa_p256_verify: One ECDSA P-256 signature verification.
        per_byte: Bulk AES-GCM encryption or decryption, per byte.
    """

    rsa2048_sign: float = 0.26e-3
    ecdsa_p256_sign: float = 0.02e-3
    x25519: float = 0.03e-3
    rsa2048_verify: float = 0.01e-3
    ecdsa_p256_verify: float = 0.06e-3
    per_byte: float = 0.25e-9

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value >= 0:
                raise ValueError(f"TlsCosts.{f.name} must be >= 0, got {value!r}")

    def sign(self, key: str) -> float:
        """One signature with a ``key`` type key (``"rsa2048"`` or ``"ecdsa_p256"``)."""
        if key == "rsa2048":
            return self.rsa2048_sign
        if key == "ecdsa_p256":
            return self.ecdsa_p256_sign
        raise ValueError(f"unknown key type {key!r} (known: rsa2048, ecdsa_p256)")

    def verify(self, key: str) -> float:
        """One verification of a signature made with a ``key`` type key."""
        if key == "rsa2048":
            return self.rsa2048_verify
        if key == "ecdsa_p256":
            return self.ecdsa_p256_verify
        raise ValueError(f"unknown key type {key!r} (known: rsa2048, ecdsa_p256)")

    def server_handshake(self, key: str, resumed: bool) -> float:
        """Server CPU for one handshake.

        Args:
            key: Type of the server's certificate key.
            resumed: Whether the session is resumed from a ticket.

        Returns:
            Full: one signature plus one X25519 exchange. Resumed: one X25519
            exchange (PSK-DHE; see the module docstring for TLS 1.2).
        """
        if resumed:
            self.sign(key)  # validates the key type
            return self.x25519
        return self.sign(key) + self.x25519

    def client_handshake(self, key: str, resumed: bool) -> float:
        """Client CPU for one handshake.

        Args:
            key: Type of the server's certificate key (whose signature it checks).
            resumed: Whether the session is resumed from a ticket.

        Returns:
            Full: one verification plus one X25519 exchange. Resumed: one X25519
            exchange.
        """
        if resumed:
            self.verify(key)
            return self.x25519
        return self.verify(key) + self.x25519

    def bulk(self, nbytes: int) -> float:
        """Encrypting or decrypting ``nbytes`` bytes of records."""
        return self.per_byte * nbytes
