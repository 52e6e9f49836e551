"""IP addresses as one spelling: what block lists and velocity counters compare.

``2001:DB8::1``, ``2001:db8:0::1`` and ``2001:db8::1`` are one address, and so
are ``::ffff:203.0.113.9`` and ``203.0.113.9``; compared as the client wrote
them, a blocked address passed by being written another way. Every address
the API takes is parsed once, at the edge, and kept in its canonical text.
"""

from __future__ import annotations

import ipaddress

from core.domain.errors import ViolationCollector


def canonical_ip(v: ViolationCollector, field: str, value: str) -> str:
    """``value`` as its canonical text (IPv4-mapped IPv6 as IPv4); a violation if no address."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        v.add(field, "must be an IPv4 or IPv6 address")
        return value
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
