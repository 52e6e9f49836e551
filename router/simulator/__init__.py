"""The HTTP channel simulator: a simulated acquirer behind a real socket (``paycore simulator``).

``app`` is the aiohttp server; the JSON format both sides speak is
router/channels/acquirer_wire.py and router/channels/http_acquirer.py is
paycore's adapter for it.
"""
