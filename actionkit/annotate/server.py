"""The annotation tool's local web server: the page, the videos, and ``annotations.json``.

:class:`AnnotationServer` serves one video folder on ``127.0.0.1`` to the page in
``annotate/static`` (standard library only: ``ThreadingHTTPServer``, with its own ``Range``
support, which the stock file handler lacks and without which every seek snaps back to 0).

Security: every request needs the session's random token (query ``token=``, header
``X-Actionkit-Token`` or the ``HttpOnly`` cookie set when the page is opened with it); the
``Host`` header must be the loopback address (no DNS rebinding); the page runs under a strict
Content-Security-Policy; no path outside the folder is ever served (:func:`resolve_inside`);
saves are JSON only, at most 8 MiB, checked, and refused when made from an old revision.

Example::

    with AnnotationServer("videos/", labels=["walk", "wave"]) as server:
        print(server.url)   # open it in a browser
"""

from __future__ import annotations

import errno
import getpass
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actionkit.annotate._http import (
    CSP,
    MAX_BODY,
    STATIC_DIR,
    Handler,
    HTTPServer,
    resolve_inside,
)
from actionkit.annotate.annotations import (
    ANNOTATIONS_FILE,
    AnnotationError,
    Annotations,
    load_annotations,
    parse_annotations,
    save_annotations,
)
from actionkit.video import is_video_file

__all__ = [
    "CSP",
    "MAX_BODY",
    "STATIC_DIR",
    "AnnotationServer",
    "list_videos",
    "port_in_use",
    "resolve_inside",
]

log = logging.getLogger(__name__)


def list_videos(video_dir: str | os.PathLike, skip: Sequence[str | os.PathLike] = ()) -> list[str]:
    """Every video under ``video_dir`` that the server would serve, as sorted relative paths
    with ``/``; hidden folders and the folders in ``skip`` (a proxy cache) are left out."""
    root = Path(video_dir)
    skipped = {os.path.realpath(s) for s in skip}
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d for d in dirs
            if not d.startswith(".") and os.path.realpath(os.path.join(folder, d)) not in skipped
        ]  # fmt: skip
        for name in files:
            rel = Path(folder, name).relative_to(root).as_posix()
            if is_video_file(name) and resolve_inside(root, rel, is_video_file) is not None:
                found.append(rel)
    return sorted(found)


class AnnotationServer:
    """Serve the annotation page for the videos of ``video_dir``.

    The folder's ``annotations.json`` is read (and checked) when the server is made, so a
    corrupt file stops it before it serves anything.

    Args:
        video_dir: The folder of videos; ``annotations.json`` is kept in it.
        labels: Labels to offer, added after the file's own (saved once, at start, only if
            they add something).
        port: TCP port on 127.0.0.1; 0 picks a free one. May be changed until :meth:`start`.
        suggest_model: A saved model whose segments are proposed (see
            :class:`~actionkit.annotate.suggest.Suggester`).
        proxy_dir: Where proxies of videos browsers cannot play are cached (default
            :func:`~actionkit.annotate.proxy.default_proxy_dir`).
        user: The name the page fills in as author (default: the login name).
        suggest_min_score: Smallest top score of the model's windows that proposes a segment.

    Raises:
        FileNotFoundError: ``video_dir`` is not a folder.
        AnnotationError: ``annotations.json`` is invalid (the message names the line), or a
            label is.
    """

    def __init__(
        self,
        video_dir: str | os.PathLike,
        labels: Sequence[str] | None = None,
        port: int = 0,
        suggest_model: str | os.PathLike | None = None,
        proxy_dir: str | os.PathLike | None = None,
        user: str | None = None,
        suggest_min_score: float = 0.5,
    ) -> None:
        self.video_dir = Path(video_dir).resolve()
        if not self.video_dir.is_dir():
            raise FileNotFoundError(f"video folder {video_dir} does not exist")
        self.annotations_path = self.video_dir / ANNOTATIONS_FILE
        load_annotations(self.annotations_path)  # refuse to start on a corrupt file
        self.labels = parse_annotations({"labels": list(labels or [])}, "labels").labels
        self.port = port
        self.suggest_model = suggest_model
        if not 0.0 <= suggest_min_score <= 1.0:
            raise ValueError(f"suggest_min_score={suggest_min_score!r} must be in [0, 1]")
        self.suggest_min_score = suggest_min_score
        self.proxy_dir = Path(proxy_dir) if proxy_dir is not None else None
        self.user = user if user is not None else _login_name()
        self.token = secrets.token_urlsafe(24)
        self.videos = self.scan()
        self.suggestions = None
        self._httpd: HTTPServer | None = None
        self._save_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The page's address, with the token."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def scan(self) -> list[str]:
        """The folder's videos (see :func:`list_videos`), kept in :attr:`videos`."""
        skip = [self.proxy_dir] if self.proxy_dir is not None else []
        self.videos = list_videos(self.video_dir, skip)
        return self.videos

    def start(self) -> AnnotationServer:
        """Bind 127.0.0.1:``port`` and serve in a daemon thread; returns self.

        Raises:
            OSError: The port is taken (``errno.EADDRINUSE``).
        """
        self._merge_labels()
        self._httpd = HTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.app = self
        self.port = self._httpd.server_address[1]
        if self.suggest_model is not None and self.suggestions is None:
            from actionkit.annotate.suggest import Suggester

            self.suggestions = Suggester(
                self.suggest_model,
                self.video_dir,
                list(self.videos),
                min_score=self.suggest_min_score,
            )
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
            name=f"actionkit-annotate-{self.port}", daemon=True,
        ).start()  # fmt: skip
        log.debug("serving %s at %s", self.video_dir, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self.suggestions is not None:
            self.suggestions.stop()

    def __enter__(self) -> AnnotationServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _merge_labels(self) -> None:
        annotations = load_annotations(self.annotations_path)
        new = [label for label in self.labels if label not in annotations.labels]
        if new:
            annotations.labels += new
            save_annotations(
                self.annotations_path, annotations, expected_revision=annotations.revision
            )

    # -- what the handler answers -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The answer of ``GET /api/state``."""
        annotations = load_annotations(self.annotations_path)
        counts = {name: len(v.segments) for name, v in annotations.videos.items()}
        return {
            "labels": annotations.all_labels(),
            "revision": annotations.revision,
            "user": self.user,
            "annotations": annotations.to_dict(),
            "videos": [{"path": v, "segments": counts.get(v, 0)} for v in self.scan()],
            "suggest": self.suggestions is not None,
        }

    def save(self, data: Any) -> int:
        """Check and save a PUT body; returns the new revision.

        Raises:
            AnnotationError: Not an annotation file, or a video key that is neither in the
                folder nor already in the file.
            StaleRevisionError: Saved elsewhere since the revision the body was made from.
        """
        annotations: Annotations = parse_annotations(data, "the saved annotations")
        with self._save_lock:
            unknown = sorted(set(annotations.videos) - set(self.videos))
            if unknown:  # a video added since the scan, or one the file already has
                known = set(self.scan()) | set(load_annotations(self.annotations_path).videos)
                unknown = [v for v in unknown if v not in known]
            if unknown:
                raise AnnotationError(
                    f"video {unknown[0]!r} is not a video of {self.video_dir}"
                    f" (there are {len(self.videos)}; e.g. {self.videos[:3]})"
                )
            return save_annotations(
                self.annotations_path, annotations, expected_revision=annotations.revision
            )

    def video_path(self, rel: str) -> Path | None:
        """The video ``rel`` names, or ``None`` (see :func:`resolve_inside`)."""
        return resolve_inside(self.video_dir, rel, is_video_file)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): the page asks
        return ""


def port_in_use(exc: OSError) -> bool:
    """Whether ``exc`` (from :meth:`AnnotationServer.start`) means the port is taken."""
    return exc.errno in (errno.EADDRINUSE, errno.EACCES)
