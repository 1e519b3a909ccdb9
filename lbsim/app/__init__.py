"""Application protocols as messages: HTTP requests and responses, raw payloads, TLS.

Holds :mod:`~lbsim.app.http`, :mod:`~lbsim.app.raw`, :mod:`~lbsim.app.auth` (tokens)
and :mod:`~lbsim.app.tls` (a TLS 1.2/1.3 endpoint state machine). Messages are
sizes and marks that ride TCP byte streams, never parsed bytes. May import
``transport``, ``net`` and the leaf utilities.
"""
