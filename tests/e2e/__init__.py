"""End-to-end tests: a real gRPC channel to an in-process paycore on real PostgreSQL and Redis."""
