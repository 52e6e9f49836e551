"""Test support shared by the suites (import as ``tests.support.<module>``).

Calling paycore over gRPC:

- ``requests``: request builders (cards, money, a valid request of every RPC, fresh ids);
- ``api``: ``Api`` and ``VaultApi``, a service as one merchant sees it;
- ``expect``: assertions on failed calls (code, ErrorInfo reason, field violations);
- ``answers``: calls as the exact bytes that came back, to compare replays;
- ``auth``: call metadata of real API keys issued into the test database.

Servers and what runs beside them:

- ``serving``: ``serve_paycore``, paycore in process with settings overrides;
- ``redis_cluster``: private Redis servers and Redis Clusters;
- ``webhooks``: a merchant's webhook endpoint (a real HTTP receiver);
- ``row_locks``: holding PostgreSQL rows to keep a request in flight;
- ``polling``: ``eventually``, for what happens off a request's path;
- ``clock``: a clock tests set; ``buf``: the buf CLI.

Without servers:

- ``memory`` and ``memory_repository``: in-memory adapters for the application's ports
  (repository, request gate, channel, key directory, guess throttle, claim batches);
  tests/application runs use cases through them. The repository's state is in
  ``memory_state``, its parties (merchants, keys, customers, mandates...) in
  ``memory_parties``, billing in ``memory_subscriptions``, risk in ``memory_risk``;
- ``payments``: domain payments and a new payment's first transaction.
"""
