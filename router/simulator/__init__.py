"""The HTTP channel simulator: a simulated acquirer behind a real socket (``paycore simulator``).

``wire`` is the JSON format both sides speak; ``app`` is the aiohttp server;
router/channels/http_acquirer.py is paycore's adapter for it.
"""
