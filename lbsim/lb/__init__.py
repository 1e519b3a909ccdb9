"""Load balancers: every kind behind one interface, and what they are made of.

Holds the :class:`~lbsim.lb.base.Balancer` interface and its registry
(:mod:`~lbsim.lb.registry`, keyed by layer and mode), the kinds -- layer-4 NAT and
DSR forwarder (:mod:`~lbsim.lb.l4`), layer-4 splicing proxy
(:mod:`~lbsim.lb.l4proxy`), layer-7 proxy (:mod:`~lbsim.lb.l7` with its pools,
retries and settings) -- and their parts: algorithms, connection table, routing,
edge policy, cache, health checks, outlier detection. May import ``net``,
``transport``, ``app``, ``host`` and the leaf utilities; never ``nodes``.
"""
