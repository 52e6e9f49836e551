"""The web pages simulated third parties show a customer (an issuer's ACS, a wallet), and
the forms those pages post back."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web


async def posted_form(
    request: web.Request,
) -> Mapping[str, str | bytes | bytearray | web.FileField]:
    """The form a page posted; 400 Bad Request when its body cannot be read as one.

    ``request.post()`` raises ValueError (a multipart body without a boundary or
    a field name, undecodable text), LookupError (an unknown charset) or
    RuntimeError (an unknown transfer encoding) for what a client sent: each is
    the client's mistake, never a 500.
    """
    try:
        return await request.post()
    except (ValueError, LookupError, RuntimeError):
        raise web.HTTPBadRequest(text="the body is not a readable form") from None


def html_page(title: str, content: str, *, status: int = 200) -> web.Response:
    """A minimal HTML page: ``title`` as its heading, then ``content`` (already escaped)."""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
{content}
</body></html>"""
    return web.Response(text=page, content_type="text/html", status=status)
