"""Simulated bearer tokens: what a client sends and what a balancer can verify.

Theory of operation: a client group's token is sent as ``Authorization: Bearer
<user>.<signature>``. A real token is signed by an identity provider and the
balancer verifies the signature with its key; here ``sig-ok`` is the signature
that verifies and anything else does not. The verifier reads only the header,
never the client's configuration, so the balancer learns validity the way a
real one does.
"""

from __future__ import annotations

#: The signature a valid simulated token carries.
VALID_SIGNATURE = "sig-ok"


def token_header(user: str, token: str) -> tuple[str, str] | None:
    """The Authorization header of a client whose token is ``valid``, ``invalid`` or ``none``."""
    if token == "none":
        return None
    signature = VALID_SIGNATURE if token == "valid" else "sig-forged"
    return ("Authorization", f"Bearer {user}.{signature}")


def token_user(value: str | None) -> tuple[str | None, bool]:
    """Decode an Authorization header: (user, whether its signature verifies)."""
    if not value or not value.startswith("Bearer "):
        return None, False
    user, _, signature = value[len("Bearer ") :].rpartition(".")
    return (user or None), signature == VALID_SIGNATURE
