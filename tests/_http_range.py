"""The head of a test server's answer to a GET that may carry ``Range: bytes=N-``."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler


def send_head(handler: BaseHTTPRequestHandler, data: bytes, ranges: bool = True) -> bytes | None:
    """Send 200, or 206 with ``Content-Range`` for ``bytes=N-`` (when ``ranges``), and the
    headers; returns the body to send, or ``None`` after a 416 for a start past the end."""
    start = 0
    match = re.match(r"bytes=(\d+)-", handler.headers.get("Range") or "")
    if match and ranges:
        start = int(match.group(1))
        if start >= len(data):
            handler.send_error(416)
            return None
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
    else:
        handler.send_response(200)
    body = data[start:]
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Content-Type", "application/octet-stream")
    handler.end_headers()
    return body
