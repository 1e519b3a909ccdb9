"""End nodes of a run: client hosts with their workloads, and backend servers.

Holds :mod:`~lbsim.nodes.client` (users and sessions that open connections and
issue requests) and :mod:`~lbsim.nodes.backend` (HTTP over TCP, a FIFO queue and
workers). Built on the host pieces: may import ``net``, ``transport``, ``app``,
``host`` and the leaf utilities -- never ``lb`` (nodes do not know balancers).
"""
