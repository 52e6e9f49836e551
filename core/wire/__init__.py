"""The one wire module: domain values <-> protobuf messages, for the API and for events.

``convert``: domain -> protobuf messages (every reply, every event's snapshot);
``serialized``: the hot replies encoded straight to bytes, byte for byte what
``convert`` gives. The other direction, requests -> commands, is the API's request
checks (core/api/requests/). core/api/ and core/events/ both use it, so neither imports
the other for its wire format.
"""
