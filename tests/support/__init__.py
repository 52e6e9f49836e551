"""Test support shared by several suites (import as ``tests.support...``)."""
