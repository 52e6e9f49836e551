"""Merchant notifications: events from state changes, signed webhooks and the event stream.

- ``derive`` (pure): which events a payment change produces.
- ``model`` (pure): events, webhook endpoints, deliveries and attempts as values.
- ``schedule`` (pure): the retry schedule of webhook deliveries.
- ``signing`` (pure): the ``Paycore-Signature`` header.
- ``relay``: workers that deliver webhooks over HTTP (aiohttp), safe in many processes.
- ``stream``: live wake-ups for EventService.StreamEvents (one short poll per process).
- ``service``: endpoint management, delivery queries and redelivery.

Events are written by the storage layer in the same transaction as the change
(core/storage/events.py); nothing here writes an event on its own.
"""
