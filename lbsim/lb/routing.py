"""Layer-7 routing: ordered rules that send each request to a backend group.

Theory of operation: a rule matches when every condition it states holds -- a path
prefix, an exact path, a method, header values -- and the first matching rule, in
the order written, decides the backend group (concept C18: ``/pictures`` to a
pictures group, ``GET /comments`` to a read group, ``POST /comments`` to a write
group). A rule with no conditions matches everything, so placed last it is the
default route; with no match at all the balancer answers 404. Evaluating a rule is
a small CPU cost of its own, so a long rule list costs more per request. Each rule
also carries its access policy (token required, users allowed) and the balancing
algorithm over its group's backends.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbsim.app.http import HttpRequest
from lbsim.lb.algorithms import Algorithm
from lbsim.lb.backends import BackendRef


class Rule:
    """One routing rule.

    Attributes:
        group: Backend group of matching requests.
        backends: That group's backends.
        algorithm: Per-request algorithm over them.
        path_prefix, path, methods, headers: Conditions (None / empty: any).
        auth: Token required on this route (None: the balancer's default).
        allow: Users allowed (None: everyone).
        public: Responses may be cached even for requests that carry a token.
        matches_all: It states no condition: every request matches it.
    """

    __slots__ = (
        "algorithm",
        "allow",
        "auth",
        "backends",
        "group",
        "headers",
        "matches_all",
        "methods",
        "path",
        "path_prefix",
        "public",
    )

    def __init__(
        self,
        group: str,
        backends: Sequence[BackendRef],
        algorithm: Algorithm,
        *,
        path_prefix: str | None = None,
        path: str | None = None,
        methods: Sequence[str] | None = None,
        headers: Sequence[tuple[str, str]] = (),
        auth: bool | None = None,
        allow: Sequence[str] | None = None,
        public: bool = False,
    ) -> None:
        self.group = group
        self.backends = list(backends)
        self.algorithm = algorithm
        self.path_prefix = path_prefix
        self.path = path
        self.methods = frozenset(methods) if methods is not None else None
        self.headers = tuple((name.lower(), value) for name, value in headers)
        self.auth = auth
        self.allow = frozenset(allow) if allow is not None else None
        self.public = public
        self.matches_all = (
            path_prefix is None and path is None and self.methods is None and not self.headers
        )

    def matches(self, method: str, path: str, headers: dict[str, str]) -> bool:
        """Whether a request with this method, path and (lower-cased) headers matches."""
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        if self.path is not None and path != self.path:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if not self.headers:
            return True
        return all(headers.get(name) == value for name, value in self.headers)


class Router:
    """Ordered rules; the first match wins.

    Attributes:
        rules: The rules, in order.
        catch_all: The first rule, if it matches every request (the one rule of a
            balancer without ``routes``): routing then needs no look at the request.
        reads_headers: Some rule has a header condition.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self.catch_all = self.rules[0] if self.rules and self.rules[0].matches_all else None
        self.reads_headers = any(rule.headers for rule in self.rules)

    def route(
        self, req: HttpRequest, headers: dict[str, str] | None = None
    ) -> tuple[Rule | None, int]:
        """The rule for ``req`` (None: no route) and how many rules were evaluated.

        ``headers`` is ``header_map(req)``, if the caller has it already (it is
        only made if some rule reads headers).
        """
        if headers is None:
            headers = header_map(req) if self.reads_headers else NO_HEADERS
        for evaluated, rule in enumerate(self.rules, start=1):
            if rule.matches(req.method, req.path, headers):
                return rule, evaluated
        return None, len(self.rules)

    @property
    def backends(self) -> list[BackendRef]:
        """Every backend some rule can send to, each once, in rule order."""
        seen: dict[str, BackendRef] = {}
        for rule in self.rules:
            for backend in rule.backends:
                seen.setdefault(backend.name, backend)
        return list(seen.values())


#: The header map of a request no one reads the headers of (never written to).
NO_HEADERS: dict[str, str] = {}


def header_map(req: HttpRequest) -> dict[str, str]:
    """A request's header fields by lower-cased name (the first of repeated names)."""
    out: dict[str, str] = {}
    for name, value in req.headers:
        out.setdefault(name.lower(), value)
    return out
