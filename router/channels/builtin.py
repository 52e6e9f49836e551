"""The built-in channels, in priority order, each in process or behind a channel simulator."""

from __future__ import annotations

from collections.abc import Mapping

from router.channel import Channel
from router.channels.http_acquirer import HttpAcquirer
from router.channels.simulated import SPECS, SimulatedAcquirer


def builtin_channels(urls: Mapping[str, str], secret: bytes) -> list[Channel]:
    """sandbox_card, acquirer_a, acquirer_b: over HTTP where ``urls`` names a simulator.

    ``secret`` signs requests to the simulators and verifies their (and the
    in-process acquirers') notifications.
    """
    channels: list[Channel] = []
    for name, spec in SPECS.items():
        url = urls.get(name, "")
        if url:
            channels.append(HttpAcquirer(spec.profile, url, secret))
        else:
            channels.append(SimulatedAcquirer(spec, callback_secret=secret))
    return channels
