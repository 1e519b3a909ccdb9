"""Edge security at a layer-7 balancer: blocking, authentication, authorization.

Theory of operation: because an L7 balancer parses every request, it can refuse
some before any backend sees them (concept C19):

* blocking: requests from blocked client address ranges, or carrying a blocked
  header value or user agent, get 403;
* authentication: where a token is required, a request without an Authorization
  header, or with one whose signature does not verify, gets 401;
* authorization: a route may allow only some users; anyone else gets 403.

Tokens are simulated (:mod:`lbsim.app.auth`); the balancer checks their signature
itself and is never told by the client whether a token is valid. The check order is block, then
route, then authentication, then authorization, as a proxy evaluates them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lbsim.app.auth import token_user
from lbsim.lb.routing import Rule


class EdgePolicy:
    """Block, authenticate and authorize requests at the edge.

    Attributes:
        auth_required: Token required where the route does not say otherwise.
        blocked_headers: ``(lower-cased name, value)`` pairs that block a request.
        blocked_agents: User-agent substrings that block a request.
        refused: Requests refused, by status code.
    """

    def __init__(
        self,
        *,
        auth_required: bool = False,
        blocked_clients: Callable[[int], bool] | None = None,
        blocked_headers: Sequence[tuple[str, str]] = (),
        blocked_agents: Sequence[str] = (),
    ) -> None:
        self.auth_required = auth_required
        self._blocked_client = blocked_clients
        self.blocked_headers = tuple((n.lower(), v) for n, v in blocked_headers)
        self.blocked_agents = tuple(blocked_agents)
        self.refused: dict[int, int] = {}

    def block(self, client_ip: int, headers: dict[str, str]) -> int | None:
        """403 if the request is blocked by source, header or user agent, else None."""
        if self._blocked_client is not None and self._blocked_client(client_ip):
            return self._refuse(403)
        for name, value in self.blocked_headers:
            if headers.get(name) == value:
                return self._refuse(403)
        if self.blocked_agents:
            agent = headers.get("user-agent", "")
            if any(fragment in agent for fragment in self.blocked_agents):
                return self._refuse(403)
        return None

    def admit(self, rule: Rule, headers: dict[str, str]) -> int | None:
        """401/403 if the route's authentication or authorization fails, else None."""
        required = self.auth_required if rule.auth is None else rule.auth
        if not required and rule.allow is None:
            return None
        user, valid = token_user(headers.get("authorization"))
        if required and not valid:
            return self._refuse(401)
        if rule.allow is not None and (not valid or user not in rule.allow):
            return self._refuse(403)
        return None

    def refuses_none(self, rules: Sequence[Rule]) -> bool:
        """Whether no request on these routes can be refused.

        Nothing is blocked, no route asks for a token or names its users: then
        :meth:`block` and :meth:`admit` always pass, reading nothing of the request.
        """
        if self._blocked_client is not None or self.blocked_headers or self.blocked_agents:
            return False
        return not any(
            (self.auth_required if rule.auth is None else rule.auth) or rule.allow is not None
            for rule in rules
        )

    def _refuse(self, status: int) -> int:
        self.refused[status] = self.refused.get(status, 0) + 1
        return status
