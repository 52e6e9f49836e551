"""How paycore runs as a process: the pieces behind ``paycore run``.

- ``embedded``: PostgreSQL and Redis from pip wheels, for a machine that has neither.
- ``supervisor``: forks the server processes that share the port, forwards signals.
- ``loop``: runs a coroutine on uvloop when it can.
- ``logging``: stdlib logging as text or one JSON object per line.

The modules are imported one by one (nothing is re-exported here) so that the
parent process of ``paycore run`` loads only what it needs before it forks.
"""
