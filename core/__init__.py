"""paycore, the gRPC payment core (README.md).

gRPC's C core writes its own lines to stderr, outside Python's logging (for
example ``grpc_wait_for_shutdown_with_timeout() timed out`` at exit, after an
absl "All log messages before absl::InitializeLog()" warning). paycore's logs
are one format, JSON or text, so the C core is silenced before grpc is first
imported (every paycore module is under this package), unless GRPC_VERBOSITY
was set: ``GRPC_VERBOSITY=ERROR`` (or ``DEBUG`` with ``GRPC_TRACE``) brings it back.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
