"""The web pages simulated third parties show a customer (an issuer's ACS, a wallet)."""

from __future__ import annotations

from aiohttp import web


def html_page(title: str, content: str, *, status: int = 200) -> web.Response:
    """A minimal HTML page: ``title`` as its heading, then ``content`` (already escaped)."""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
{content}
</body></html>"""
    return web.Response(text=page, content_type="text/html", status=status)
