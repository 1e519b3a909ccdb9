"""lbsim: a discrete-event simulator of layer-4 and layer-7 load balancing.

The package is laid out like the OSI model: ``net`` (L2/L3), ``transport`` (L4 TCP),
``app`` (L5-L7 protocols), ``lb`` (balancers), ``nodes`` (clients and backends),
``scenario`` (input files), ``sim`` (wiring one run), ``results``/``metrics``/``plots``
(outputs) and ``cli``.
"""

__version__ = "0.1.0"
