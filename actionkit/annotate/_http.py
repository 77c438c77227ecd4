"""The annotation server's HTTP side: the request handler, ranges, and path safety.

:class:`Handler` answers for an :class:`~actionkit.annotate.server.AnnotationServer` (the
server's ``app``): it checks the ``Host`` header and the token on every request, routes, and
writes every answer with the security headers. Paths from requests are decoded once and go
through :func:`resolve_inside`, the one place that decides what may be served.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from actionkit.annotate.annotations import AnnotationError, StaleRevisionError

__all__ = [
    "CSP",
    "MAX_BODY",
    "STATIC_DIR",
    "HTTPServer",
    "Handler",
    "parse_range",
    "resolve_inside",
]

log = logging.getLogger("actionkit.annotate.server")

#: Largest accepted PUT body (the whole annotation file), in bytes.
MAX_BODY = 8 * 1024 * 1024
#: The page's files (package data).
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
TOKEN_COOKIE = "actionkit_token"
TOKEN_HEADER = "X-Actionkit-Token"
_CHUNK = 256 * 1024
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def resolve_inside(
    root: str | os.PathLike, rel: str, allowed: Callable[[str], bool]
) -> Path | None:
    """The regular file ``rel`` names inside ``root``, or ``None`` when it must not be served.

    ``rel`` is a relative path with ``/``, decoded once (never decode it again). Refused:
    empty, absolute, drive letters, backslashes, NUL, ``.``/``..``/empty parts, a name or real
    path that ``allowed`` rejects, a real path (symlinks resolved) outside the real ``root``,
    and anything but a regular file.
    """
    parts = rel.split("/")
    if (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or "\0" in rel
        or any(p in ("", ".", "..") for p in parts)
        or (len(parts[0]) >= 2 and parts[0][1] == ":")  # a drive letter
        or not allowed(rel)
    ):
        return None
    top = os.path.realpath(root)
    real = os.path.realpath(os.path.join(top, *parts))
    if os.path.commonpath([top, real]) != top or real == top or not allowed(real):
        return None
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):
            return None
    except (OSError, ValueError):
        return None
    return Path(real)


def _static_file(name: str) -> bool:
    return Path(name).suffix.lower() in STATIC_TYPES and not Path(name).name.startswith(".")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` one ``Range`` header asks of a ``size``-byte
    file; ``None`` to send the whole file (no header, several ranges, or one it cannot parse).

    Raises:
        ValueError: The range is unsatisfiable (416).
    """
    match = re.fullmatch(r"bytes=\s*(\d*)\s*-\s*(\d*)\s*", (header or "").strip(), re.IGNORECASE)
    if match is None or match.groups() == ("", ""):
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise ValueError(f"suffix range {header} of a {size}-byte file")
        return max(0, size - length), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:  # not a valid range: ignored, as RFC 9110 says
        return None
    last = int(last_text) if last_text else size - 1
    if first >= size:
        raise ValueError(f"range {header} starts past the end of a {size}-byte file")
    return first, min(last, size - 1)


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    app: Any  # the AnnotationServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (*_GONE, TimeoutError)):
            log.debug("client %s went away", client_address)
        else:
            log.exception("error while answering %s", client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else small answers wait 40 ms for their headers' ACK
    server_version = "actionkit-annotate"
    sys_version = ""
    timeout = 300
    server: HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # -- entry points -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        if method != "GET":  # a refused body stays unread: never read it as the next request
            self.close_connection = True
        try:
            self._route(method)
        except _GONE:
            self.close_connection = True
        except Exception as exc:
            log.exception("error answering %s %s", method, self.path.split("?")[0])
            self._json(500, {"error": f"{type(exc).__name__}: {exc}"})

    def _route(self, method: str) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        path = unquote(url.path)  # decoded once, never again
        query = parse_qs(url.query, keep_blank_values=True)
        if not self._host_ok():
            return self._text(403, "forbidden: the Host header must be 127.0.0.1 or localhost")
        token_in_query = self._token_ok(query.get("token", [""])[0])
        if not (token_in_query or self._token_ok(self.headers.get(TOKEN_HEADER, ""))
                or any(self._token_ok(v) for v in self._cookies())):  # fmt: skip
            return self._text(
                403, "forbidden: open the URL with the token `actionkit annotate` printed"
            )
        video = query.get("video", [""])[0]
        routes = {
            ("GET", "/"): lambda: self._index(token_in_query),
            ("GET", "/api/state"): lambda: self._json(200, app.state()),
            ("GET", "/api/probe"): lambda: self._probe(video),
            ("GET", "/media"): lambda: self._media(video),
            ("GET", "/api/suggestions"): lambda: self._suggestions(video),
            ("PUT", "/api/annotations"): self._put,
        }
        if (method, path) in routes:
            return routes[(method, path)]()
        if method == "GET" and path.startswith("/static/"):
            found = resolve_inside(STATIC_DIR, path[len("/static/") :], _static_file)
            if found is not None:
                return self._file(found, STATIC_TYPES[found.suffix.lower()], media=False)
        self._text(404 if method == "GET" or path.startswith("/api/") else 405, "not found")

    # -- checks -------------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        port = self.server.app.port
        host = (self.headers.get("Host") or "").strip().lower()
        return host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}")

    def _token_ok(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.server.app.token.encode()
        )

    def _cookies(self) -> list[str]:
        names = (TOKEN_COOKIE, f"{TOKEN_COOKIE}_{self.server.app.port}")
        out = []
        for header in self.headers.get_all("Cookie") or []:
            for item in header.split(";"):
                name, _, value = item.strip().partition("=")
                if name in names:
                    out.append(value.strip().strip('"'))
        return out

    # -- answers ------------------------------------------------------------------------------
    def _index(self, token_in_query: bool) -> None:
        index = STATIC_DIR / "index.html"
        if not index.is_file():
            return self._text(404, f"the page is not installed ({index} is missing)")
        cookies = []
        if token_in_query:
            attrs = "HttpOnly; SameSite=Strict; Path=/"
            token = self.server.app.token
            # One cookie per port too: two servers on one host would overwrite the plain one.
            names = (TOKEN_COOKIE, f"{TOKEN_COOKIE}_{self.server.app.port}")
            cookies = [f"{name}={token}; {attrs}" for name in names]
        self._file(index, STATIC_TYPES[".html"], media=False, cookies=cookies)

    def _probe(self, video: str) -> None:
        from actionkit.annotate.proxy import probe_for_browser

        path = self.server.app.video_path(video)
        if path is None:
            return self._json(404, {"error": f"no video {video!r} in the folder"})
        try:
            answer = probe_for_browser(path, self.server.app.proxy_dir)
        except Exception as exc:  # an unreadable video: the page shows why
            log.debug("probe of %s failed", path, exc_info=True)
            return self._json(422, {"error": f"{video}: {exc}"})
        self._json(200, {"path": video, **answer})

    def _media(self, video: str) -> None:
        from actionkit.annotate.proxy import played_file

        path = self.server.app.video_path(video)
        if path is None:
            return self._text(404, "not found")
        path = played_file(path, self.server.app.proxy_dir)
        kind = "video/webm" if path.suffix.lower() == ".webm" else "video/mp4"
        self._file(path, kind, media=True)

    def _suggestions(self, video: str) -> None:
        app = self.server.app
        if app.video_path(video) is None:
            return self._json(404, {"error": f"no video {video!r} in the folder"})
        if app.suggestions is None:
            return self._json(200, {"status": "off", "error": None, "segments": []})
        self._json(200, app.suggestions.status(video))

    def _put(self) -> None:
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            return self._json(
                415, {"error": f"Content-Type {kind or 'none'!r}: send application/json"}
            )
        length_text = self.headers.get("Content-Length")
        if length_text is None or self.headers.get("Transfer-Encoding"):
            return self._json(411, {"error": "a Content-Length is required"})
        if not length_text.strip().isdigit():
            return self._json(400, {"error": f"Content-Length {length_text!r} is not a number"})
        if int(length_text) > MAX_BODY:
            return self._json(413, {"error": f"{length_text} bytes: the limit is {MAX_BODY}"})
        body = self.rfile.read(int(length_text))
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return self._json(400, {"error": f"not UTF-8 ({exc.reason} at byte {exc.start})"})
        except json.JSONDecodeError as exc:
            text = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            return self._json(400, {"error": text})
        except RecursionError:
            return self._json(400, {"error": "invalid JSON: nested too deeply"})
        try:
            revision = self.server.app.save(data)
        except StaleRevisionError as exc:
            return self._json(409, {"error": str(exc), "revision": exc.actual})
        except AnnotationError as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, {"revision": revision})

    # -- writing ------------------------------------------------------------------------------
    def _headers(self, status: int, kind: str, length: int, media: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", CSP)
        if not media:
            self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self._headers(status, kind, len(body))
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: int, text: str) -> None:
        self._send(status, "text/plain; charset=utf-8", (text + "\n").encode())

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self._send(status, "application/json; charset=utf-8", body)

    def _file(self, path: Path, kind: str, *, media: bool, cookies: Sequence[str] = ()) -> None:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            try:
                wanted = parse_range(self.headers.get("Range"), size) if media else None
            except ValueError:
                self._headers(416, "text/plain; charset=utf-8", 0, media=True)
                self.send_header("Content-Range", f"bytes */{size}")
                return self.end_headers()
            first, last = wanted if wanted is not None else (0, size - 1)
            self._headers(206 if wanted else 200, kind, last - first + 1, media=media)
            if media:
                self.send_header("Accept-Ranges", "bytes")
            if wanted:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            for cookie in cookies:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            f.seek(first)
            left = last - first + 1
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:  # the file shrank while being sent
                    self.close_connection = True
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
