"""A QR code the merchant shows its customer, as the API gives it: the payload and its images.

The images are drawn from the payload on every read (segno, pure Python; a
short payload takes well under a millisecond), so nothing but the payload is
stored.
"""

from __future__ import annotations

import io

import segno

from paycore.v1 import payment_pb2 as pb

_SCALE = 4
"""Pixels (PNG) or user units (SVG) per module: about 150 px for a short URL, with its border."""


def qr_code_to_proto(payload: str) -> pb.DisplayQrCode:
    """``payload`` with its QR code as a PNG and as an SVG document."""
    code = segno.make_qr(payload, error="m")
    png, svg = io.BytesIO(), io.BytesIO()
    code.save(png, kind="png", scale=_SCALE)
    code.save(svg, kind="svg", scale=_SCALE, xmldecl=False)
    return pb.DisplayQrCode(
        payload=payload, image_png=png.getvalue(), image_svg=svg.getvalue().decode()
    )
