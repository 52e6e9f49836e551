"""Tests of the Python client (clients/python/paycore/client) against a scripted server."""
