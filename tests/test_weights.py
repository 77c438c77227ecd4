"""Weights download, cache, hash checks and checkpoint reading, against real local servers."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from torch import nn

from actionkit.models.weights import (
    WeightsError,
    WeightsRecord,
    cache_dir,
    copy_to_cache,
    download,
    load_into,
    load_state_dict,
)
from actionkit.resources import kinetics400_classes
from actionkit.utils import locks
from tests._http_range import send_head

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, not a multiple of the chunk size
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


pytestmark = pytest.mark.usefixtures("private_cache")  # every test gets its own, empty cache


# -- a real HTTP server on 127.0.0.1 -------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        srv.seen.append({"path": self.path, "range": self.headers.get("Range")})
        if self.path != "/" + srv.name:
            self.send_error(404)
            return
        body = send_head(self, srv.data, srv.ranges)
        if body is None:
            return
        if srv.drops > 0:  # announce the whole body, send part of it, hang up
            srv.drops -= 1
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        deadline = time.monotonic() + 60
        while not all(p.exists() for p in srv.hold) and time.monotonic() < deadline:
            time.sleep(0.01)  # hold the body until every waited-for client has started
        served = [time.time(), None]  # when the body started, when its last piece started
        srv.served.append(served)
        step = max(1, len(body) // 16)
        for i in range(0, len(body), step):  # slowly where srv.delay is set: downloads overlap
            if i:
                time.sleep(srv.delay)
            served[1] = time.time()  # no client has the whole body before this
            self.wfile.write(body[i : i + step])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.data, httpd.name, httpd.seen, httpd.served = PAYLOAD, "w-abc.pth", [], []
    httpd.ranges, httpd.drops = True, 0  # honour Range requests; responses to cut short
    httpd.delay = 0.0  # seconds between the 16 pieces of a body
    httpd.hold = []  # files that must exist before a body is sent
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/{httpd.name}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- cache location ------------------------------------------------------------------------------
def test_cache_dir_honours_actionkit_cache_then_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONKIT_CACHE", str(tmp_path / "ak"))
    assert cache_dir() == tmp_path / "ak"
    monkeypatch.delenv("ACTIONKIT_CACHE")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert cache_dir() == tmp_path / "th" / "actionkit"
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "torch" / "actionkit"


# -- local files and file:// URLs ----------------------------------------------------------------
def test_local_path_is_checked_and_returned_in_place(tmp_path):
    src = tmp_path / "w.pth"
    src.write_bytes(PAYLOAD)
    assert download(str(src), sha256_prefix=PAYLOAD_SHA[:8]) == src
    with pytest.raises(WeightsError, match="expected a hash starting with 00000000"):
        download(src, sha256_prefix="00000000")
    with pytest.raises(WeightsError, match="No such weights file"):
        download(str(tmp_path / "missing.pth"))


def test_file_url_goes_into_the_cache_and_is_reused(tmp_path):
    src = tmp_path / "src" / "w-1234.pth"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    got = download(src.as_uri(), sha256_prefix=PAYLOAD_SHA[:8], progress=False)
    assert got == cache_dir() / "w-1234.pth"
    assert got.read_bytes() == PAYLOAD
    assert not list(cache_dir().glob("*.partial"))
    src.unlink()  # the source is gone: the cached copy is enough
    assert download(src.as_uri(), sha256_prefix=PAYLOAD_SHA[:8], progress=False) == got


def test_file_name_overrides_the_url_basename(tmp_path):
    src = tmp_path / "w.pth"
    src.write_bytes(PAYLOAD)
    got = download(src.as_uri(), file_name="renamed.pth", progress=False)
    assert got == cache_dir() / "renamed.pth"


def test_damaged_cached_copy_is_fetched_again(tmp_path):
    src = tmp_path / "w.pth"
    src.write_bytes(PAYLOAD)
    cache_dir().mkdir(parents=True)
    (cache_dir() / "w.pth").write_bytes(b"damaged")
    got = download(src.as_uri(), sha256_prefix=PAYLOAD_SHA[:10], progress=False)
    assert got.read_bytes() == PAYLOAD
    (aside,) = cache_dir().glob("w.pth.bad-*")  # the damaged copy is kept for a look
    assert aside.read_bytes() == b"damaged"


def test_torch_hub_checkpoints_are_reused():
    hub = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints"  # the private one (conftest)
    hub.mkdir(parents=True)
    (hub / "r2plus1d_18-91a641e6.pth").write_bytes(PAYLOAD)
    url = f"http://127.0.0.1:{_closed_port()}/r2plus1d_18-91a641e6.pth"  # never contacted
    assert download(url, sha256_prefix=PAYLOAD_SHA[:8]) == hub / "r2plus1d_18-91a641e6.pth"


def test_copy_to_cache_puts_a_hand_fetched_file_where_download_looks(tmp_path):
    src = tmp_path / "by_hand.pth"
    src.write_bytes(PAYLOAD)
    record = WeightsRecord(
        url=f"http://127.0.0.1:{_closed_port()}/x-{PAYLOAD_SHA[:8]}.pth",
        sha256_prefix=PAYLOAD_SHA[:8],
        num_classes=2,
        classes=None,
    )
    assert copy_to_cache(src, record) == record.cache_path
    assert record.download(progress=False) == record.cache_path


# -- HTTP ----------------------------------------------------------------------------------------
def test_http_download_checks_hash_and_renames(server):
    got = download(server.url, sha256_prefix=PAYLOAD_SHA[:8], progress=True)
    assert got == cache_dir() / server.name
    assert got.read_bytes() == PAYLOAD
    assert not (cache_dir() / (server.name + ".partial")).exists()
    download(server.url, sha256_prefix=PAYLOAD_SHA[:8])
    assert len(server.seen) == 1  # the second call is served from the cache


def test_dropped_connection_is_resumed_with_a_range_request(server):
    server.drops = 1
    got = download(server.url, sha256_prefix=PAYLOAD_SHA, progress=False)
    assert hashlib.sha256(got.read_bytes()).hexdigest() == PAYLOAD_SHA
    assert server.seen[0]["range"] is None
    assert server.seen[1]["range"] == f"bytes={len(PAYLOAD) // 3}-"


def test_partial_file_from_an_earlier_call_is_resumed(server):
    cache_dir().mkdir(parents=True)
    (cache_dir() / (server.name + ".partial")).write_bytes(PAYLOAD[:1000])
    got = download(server.url, sha256_prefix=PAYLOAD_SHA[:8], progress=False)
    assert got.read_bytes() == PAYLOAD
    assert server.seen == [{"path": "/" + server.name, "range": "bytes=1000-"}]


def test_server_without_range_support_restarts_from_zero(server):
    server.ranges = False
    cache_dir().mkdir(parents=True)
    (cache_dir() / (server.name + ".partial")).write_bytes(b"junk" * 100)
    got = download(server.url, sha256_prefix=PAYLOAD_SHA[:8], progress=False)
    assert got.read_bytes() == PAYLOAD


def test_connection_that_keeps_dropping_keeps_the_partial_file(server):
    server.drops, server.ranges = 10, False  # never resumable, never complete
    with pytest.raises(WeightsError, match="kept dropping") as info:
        download(server.url, progress=False)
    assert str(cache_dir() / (server.name + ".partial")) in str(info.value)
    server.drops = 0
    assert download(server.url, progress=False).read_bytes() == PAYLOAD


def test_hash_mismatch_names_url_and_hashes_and_keeps_the_file_aside(server):
    with pytest.raises(WeightsError) as info:
        download(server.url, sha256_prefix="deadbeef", progress=False)
    message = str(info.value)
    assert server.url in message and "deadbeef" in message and PAYLOAD_SHA in message
    aside = f"{server.name}.partial.bad-{PAYLOAD_SHA[:8]}"
    assert str(cache_dir() / aside) in message
    assert [p.name for p in cache_dir().iterdir()] == [aside]  # no target, .partial or .lock


def test_unreachable_url_says_where_to_put_the_file():
    url = f"http://127.0.0.1:{_closed_port()}/r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth"
    with pytest.raises(WeightsError) as info:
        download(url, sha256_prefix="9bae36ae", progress=False)
    message = str(info.value)
    assert url in message
    assert str(cache_dir() / "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth") in message
    assert "offline" in message


def test_http_error_is_reported(server):
    with pytest.raises(WeightsError, match="HTTP 404"):
        download(server.url.replace(server.name, "nothing.pth"), progress=False)


# -- concurrent downloads ------------------------------------------------------------------------
_CHILD = """
import sys, time
from pathlib import Path
from actionkit.models import weights
from actionkit.utils import locks
from tests._http_range import send_head
url, sha, ready, go, started, lock = sys.argv[1:]
if lock == "exclusive-file":
    locks.fcntl = None  # as on a platform without fcntl
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.005)
start = time.time()
Path(started).touch()
path = weights.download(url, sha256_prefix=sha, progress=False)
print(start, time.time(), path)
"""


@pytest.mark.slow
@pytest.mark.parametrize("lock", ["flock", "exclusive-file"])
def test_two_processes_downloading_the_same_file_fetch_it_once(server, tmp_path, lock):
    server.delay = 0.06  # about 1 s per download: the second process starts while it runs
    go = tmp_path / "go"
    readies = [tmp_path / f"ready{i}" for i in range(2)]
    server.hold = [tmp_path / f"started{i}" for i in range(2)]  # both are in download() by then
    command = [sys.executable, "-c", _CHILD, server.url, PAYLOAD_SHA]
    children = [
        subprocess.Popen(
            [*command, str(tmp_path / f"ready{i}"), str(go), str(server.hold[i]), lock],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 120  # importing torch twice on a loaded machine
    while not all(r.exists() for r in readies) and time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            break  # a child failed: its error is shown below
        time.sleep(0.01)
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        start, end, path = out.split()
        results.append((float(start), float(end), Path(path)))

    target = cache_dir() / server.name
    assert [path for _, _, path in results] == [target, target]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == PAYLOAD_SHA
    assert len(server.seen) == 1 and len(server.served) == 1  # one fetch for both
    fetch_end = server.served[0][1]
    assert all(start < fetch_end for start, _, _ in results)  # they did overlap
    assert all(end >= fetch_end for _, end, _ in results)  # the waiter returned after the fetch
    assert sorted(p.name for p in cache_dir().iterdir()) == [server.name]  # no .partial, .lock


def test_stale_lock_file_without_fcntl_is_reported(server, monkeypatch):
    monkeypatch.setattr(locks, "fcntl", None)
    monkeypatch.setattr(locks, "_STALE_S", 0.3)
    cache_dir().mkdir(parents=True)
    lock = cache_dir() / (server.name + ".lock")
    lock.touch()  # left by a process that died
    with pytest.raises(WeightsError, match=re.escape(str(lock))):
        download(server.url, progress=False)
    assert server.seen == []
    lock.unlink()
    assert download(server.url, sha256_prefix=PAYLOAD_SHA, progress=False).read_bytes() == PAYLOAD
    assert sorted(p.name for p in cache_dir().iterdir()) == [server.name]


# -- reading checkpoints -------------------------------------------------------------------------
def _state():
    return nn.Linear(3, 2).state_dict()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s,
        lambda s: {"state_dict": s, "epoch": 3},
        lambda s: {"model": s, "optimizer": {}},
        lambda s: {f"module.{k}": v for k, v in s.items()},
        lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}},
    ],
    ids=["plain", "state_dict", "model", "module.", "nested"],
)
def test_load_state_dict_unwraps_common_containers(tmp_path, wrap):
    state = _state()
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(state), path)
    got = load_state_dict(path)
    assert set(got) == set(state)
    for key, value in state.items():
        assert torch.equal(got[key], value)


def test_load_state_dict_through_a_file_url_with_hash(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save(_state(), path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    got = load_state_dict(path.as_uri(), sha256_prefix=sha[:8])
    assert set(got) == {"weight", "bias"}
    with pytest.raises(WeightsError, match="sha256"):
        load_state_dict(path, sha256_prefix="0" * 8 if sha[0] != "0" else "f" * 8)


def test_truncated_checkpoint_is_named_in_the_error(tmp_path):
    path = tmp_path / "truncated.pth"
    torch.save({"w": torch.randn(1000)}, path)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(WeightsError, match=r"truncated\.pth.*truncated, corrupt"):
        load_state_dict(path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match=r"junk\.pth"):
        load_state_dict(junk)


class _Evil:
    pass


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": _Evil()}, path)
    with pytest.raises(WeightsError, match=r"evil\.pth"):
        load_state_dict(path)


def test_checkpoint_without_tensors_is_refused(tmp_path):
    path = tmp_path / "empty.pth"
    torch.save({"epoch": 3}, path)
    with pytest.raises(WeightsError, match="no tensors"):
        load_state_dict(path)


def test_load_into_lists_what_does_not_fit():
    model = nn.Sequential(nn.Linear(3, 2))
    state = {"0.weight": torch.zeros(5, 3), "extra": torch.zeros(1)}
    with pytest.raises(WeightsError) as info:
        load_into(model, state, source="my.pth")
    message = str(info.value)
    assert "my.pth" in message and "0.bias" in message and "extra" in message
    assert "(5, 3)" in message and "(2, 3)" in message
    good = nn.Linear(3, 2).state_dict()
    load_into(model, {f"0.{k}": v for k, v in good.items()})
    assert torch.equal(model[0].weight, good["weight"])


# -- records and class names ---------------------------------------------------------------------
def test_record_defaults_and_validation():
    record = WeightsRecord("https://example.com/a/b-12345678.pth?x=1", "12345678", 400, None)
    assert record.cache_name == "b-12345678.pth"
    assert record.cache_path == cache_dir() / "b-12345678.pth"
    with pytest.raises(ValueError, match="2 class names"):
        WeightsRecord("file:///x.pth", None, 3, ("a", "b"))


def test_kinetics400_classes_from_package_data():
    classes = kinetics400_classes()
    assert isinstance(classes, tuple) and len(classes) == 400 == len(set(classes))
    assert classes[0] == "abseiling" and classes[-1] == "zumba"
    assert list(classes) == sorted(classes)


def test_kinetics400_classes_match_the_shared_list(shared_data):
    shared = (shared_data / "kinetics400_classes.txt").read_text()
    assert list(kinetics400_classes()) == shared.split("\n")[:400]
