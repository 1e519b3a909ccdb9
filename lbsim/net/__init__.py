"""The network layer: addresses, segments and one-way links.

Holds :mod:`~lbsim.net.addresses` (the address plan: VIP, inside address, client
and backend ranges, ports), :mod:`~lbsim.net.segment` (the TCP/IP segment as one
tuple) and :mod:`~lbsim.net.link` (latency, bandwidth, MTU, queue and loss; one
scheduled event per delivery). The bottom layer: it imports nothing of lbsim but
the leaf utilities (``sched``, ``streams``, ...).
"""
