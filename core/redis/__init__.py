"""Redis adapters: what paycore keeps in Redis, one module per use.

- ``request_gate``: ``RedisRequestGate``, the request gate (``core.gate.RequestGate``)
  on one Redis script per write, with leased read budgets (``read_leases``), both
  spending the merchant's limit through the one GCRA of ``gcra``;
- ``autopipeline``: the commands of one event-loop tick sent as one pipeline;
- ``velocity``: risk velocity counters (riding the gate's script when it can);
- ``auth_throttle``: failed-authentication counters and locks;
- ``key_revocations``: API key changes broadcast to every process.
"""
