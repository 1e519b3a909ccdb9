"""Host pieces shared by balancers and end nodes: TCP stack, channels, CPU model.

Holds :mod:`~lbsim.host.stack` (demultiplexes segments to TCP connections, ports,
routes), :mod:`~lbsim.host.channel` (plain and TLS byte channels over a connection)
and :mod:`~lbsim.host.cpu` (a multi-core CPU queue). May import ``net``,
``transport``, ``app`` and the leaf utilities; never ``lb`` or ``nodes``.
"""
