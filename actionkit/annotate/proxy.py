"""What the annotation page plays: the video itself, or a cached H.264 proxy of it.

Browsers play H.264, VP9 and AV1 in MP4/MOV and VP8, VP9 and AV1 in WebM, in 8-bit 4:2:0.
Anything else (AVI, MPEG-4 Part 2, MJPEG, HEVC, MPEG-2, WMV, 10-bit...) gets a proxy: an
H.264 MP4 with a short keyframe interval (cheap seeks) made once by
:func:`~actionkit.video.transcode.transcode_video`, whose frame ``i`` is the source's frame
``i``. Proxies live in a cache folder (``$ACTIONKIT_CACHE/proxies``, else
``~/.cache/actionkit/proxies``), never beside the videos, keyed by the source's path, size and
modification time, so an edited video gets a new one.

:func:`probe_for_browser` describes the file the browser plays: frame rate, exact frame count
and, for a variable-frame-rate file, each frame's presentation time.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from pathlib import Path
from typing import Any

import av

from actionkit.utils.locks import file_lock
from actionkit.video import probe, transcode_video

__all__ = [
    "PROXY_GOP",
    "PROXY_SHORT_SIDE",
    "default_proxy_dir",
    "frame_times",
    "needs_proxy",
    "played_file",
    "probe_for_browser",
    "proxy_for",
]

#: Short side of proxies: watchable, and quick to make (smaller sources keep their size).
PROXY_SHORT_SIDE = 480
#: Keyframe interval of proxies, in frames: a seek decodes at most this many frames.
PROXY_GOP = 12
_PROXY_VERSION = 1  # part of the cache key: bump when the proxy settings change

# Per container suffix, what a browser decodes there (Chrome, Firefox, Safari agree on these).
_PLAYABLE = {
    ".mp4": ("mov,mp4", {"h264", "vp9", "av1"}),
    ".m4v": ("mov,mp4", {"h264", "vp9", "av1"}),
    ".mov": ("mov,mp4", {"h264", "vp9", "av1"}),
    ".webm": ("matroska,webm", {"vp8", "vp9", "av1"}),
}
_PLAYABLE_PIXELS = {"yuv420p", "yuvj420p"}
_VFR_TOLERANCE = 0.01  # frame intervals differing more than this (of the mean) make a file VFR

_probes: dict[tuple[str, int, int], dict[str, Any]] = {}
_needs: dict[tuple[str, int, int], bool] = {}  # needs_proxy, per file
_probes_lock = threading.Lock()


def default_proxy_dir() -> Path:
    """Where proxies are cached: ``$ACTIONKIT_CACHE/proxies``, else
    ``$XDG_CACHE_HOME/actionkit/proxies`` (``~/.cache/actionkit/proxies``)."""
    override = os.environ.get("ACTIONKIT_CACHE")
    if override:
        return Path(override).expanduser() / "proxies"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    return cache / "actionkit" / "proxies"


def needs_proxy(path: str | os.PathLike) -> bool:
    """Whether a browser cannot play ``path`` as it is (reads the headers and, at most, one
    frame; a file FFmpeg cannot open needs a proxy too: making it gives the clear error)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _PLAYABLE:
        return True
    container, codecs = _PLAYABLE[suffix]
    try:
        with av.open(os.fspath(path), metadata_errors="ignore") as source:
            if not source.streams.video or not source.format.name.startswith(container):
                return True
            stream = source.streams.video[0]
            if stream.codec_context is None or stream.codec_context.name not in codecs:
                return True
            pixels = stream.codec_context.format
            if pixels is None:  # not in the headers: look at the first frame
                pixels = next(source.decode(stream)).format
            return pixels.name not in _PLAYABLE_PIXELS
    except (av.FFmpegError, OSError, StopIteration):
        return True


def proxy_for(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """The H.264 MP4 proxy of ``path``, made on first use (blocking) and cached.

    Two threads or processes asking at once make it once: the second waits for the first.

    Args:
        path: The source video.
        cache_dir: Proxy folder; default :func:`default_proxy_dir`.

    Raises:
        TranscodeError: The source holds no decodable video (see
            :func:`~actionkit.video.transcode.transcode_video`).
    """
    cache = Path(cache_dir) if cache_dir is not None else default_proxy_dir()
    real, size, mtime = _file_key(path)
    text = f"{_PROXY_VERSION}\0{real}\0{size}\0{mtime}"
    key = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    out = cache / f"{key}.mp4"
    if out.is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    with file_lock(cache / f".{key}.lock", what=f"making the proxy of {Path(path).name}"):
        if not out.is_file():
            transcode_video(path, out, short_side=PROXY_SHORT_SIDE, crf=20, gop=PROXY_GOP)
    return out


def frame_times(path: str | os.PathLike) -> list[float] | None:
    """Each frame's presentation time (seconds from the first frame) of a variable-frame-rate
    file, from its packets' timestamps (no decoding); ``None`` for a constant-rate file or one
    without usable timestamps.

    A file is variable-rate when a frame interval differs from the mean by more than 1 % (and
    by more than the container's timestamp resolution: WebM's milliseconds make 30 fps files
    alternate between 33 and 34 ms).
    """
    with av.open(os.fspath(path), metadata_errors="ignore") as source:
        if not source.streams.video:
            return None
        stream = source.streams.video[0]
        pts = [p.pts for p in source.demux(stream) if p.size and not p.is_discard]
        base = float(stream.time_base or 0)
    if len(pts) < 3 or None in pts or len(set(pts)) != len(pts) or base <= 0:
        return None
    pts.sort()
    times = [(p - pts[0]) * base for p in pts]
    intervals = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(intervals) / len(intervals)
    tolerance = max(_VFR_TOLERANCE * mean, 1.5 * base)
    if all(abs(d - mean) <= tolerance for d in intervals):
        return None
    return [round(t, 6) for t in times]


def probe_for_browser(
    path: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """What the page needs to step through ``path`` frame by frame, as played by the browser.

    Makes the proxy first when the file needs one (see :func:`proxy_for`). The answer is cached
    per file (path, size and modification time).

    Returns:
        ``fps``, ``num_frames`` (exact), ``duration``, ``width``, ``height`` of the played file,
        ``frame_times`` (a list for variable-frame-rate files, else ``None``; a proxy is
        constant-rate), ``proxy`` (bool) and ``codec`` (the source's codec).

    Raises:
        VideoReadError: The file cannot be read.
        TranscodeError: A proxy is needed but cannot be made.
    """
    key = _file_key(path)
    with _probes_lock:
        known = _probes.get(key)
    if known is not None:
        return dict(known)
    source = probe(path, backend="pyav")  # "auto" would import torch (seconds) to test TorchCodec
    proxy = _needs_proxy_remembered(path)
    played = probe(proxy_for(path, cache_dir), backend="pyav") if proxy else source
    answer = {
        "fps": played.fps,
        "num_frames": played.num_frames,
        "duration": played.duration,
        "width": played.width,
        "height": played.height,
        "frame_times": None if proxy else frame_times(path),
        "proxy": proxy,
        "codec": source.codec,
    }
    if answer["frame_times"] is not None and len(answer["frame_times"]) != played.num_frames:
        answer["frame_times"] = None  # packets and decoded frames disagree: trust the rate
    with _probes_lock:
        _probes[key] = answer
    return dict(answer)


def played_file(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """The file a browser plays for ``path``: itself, or its proxy (made on first use). Whether
    a file needs a proxy is remembered per file (path, size and modification time)."""
    return proxy_for(path, cache_dir) if _needs_proxy_remembered(path) else Path(path)


def _needs_proxy_remembered(path: str | os.PathLike) -> bool:
    """:func:`needs_proxy`, worked out once per file (path, size and modification time)."""
    key = _file_key(path)
    with _probes_lock:
        proxy = _needs.get(key)
    if proxy is None:
        proxy = needs_proxy(path)
        with _probes_lock:
            _needs[key] = proxy
    return proxy


def _file_key(path: str | os.PathLike) -> tuple[str, int, int]:
    real = os.path.realpath(path)
    st = os.stat(real)
    return real, st.st_size, st.st_mtime_ns
