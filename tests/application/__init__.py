"""Use cases of the application run against the in-memory adapters (tests/support/memory*.py)."""
