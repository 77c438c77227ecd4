"""The annotation server over real HTTP: token, Host, headers, ranges, path safety, saves, CLI."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from actionkit.annotate.annotations import AnnotationError, load_annotations
from actionkit.annotate.server import CSP, MAX_BODY, STATIC_DIR, AnnotationServer
from tests._indexed import write_indexed_video
from tests.test_cli import COMMAND


# -- helpers -------------------------------------------------------------------------------------
def request(server, method, target, *, body=None, headers=None, host=None, token=True):
    """``(status, headers, body)`` of one raw request: the target's bytes are sent as given."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{server.port}")
        if token:
            conn.putheader("X-Actionkit-Token", server.token)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None and "Content-Length" not in (headers or {}):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def put(server, data, content_type="application/json"):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    status, _, out = request(
        server, "PUT", "/api/annotations", body=body, headers={"Content-Type": content_type}
    )
    return status, json.loads(out)


def segment(first, last, label="walk", fps=25.0):
    return {"label": label, "start_frame": first, "end_frame": last,
            "start": first / fps, "end": (last + 1) / fps, "author": "test"}  # fmt: skip


def state(server):
    status, _, body = request(server, "GET", "/api/state")
    assert status == 200
    return json.loads(body)


@pytest.fixture
def folder(tmp_path) -> Path:
    """videos/ with a.mp4, sub/b c.mp4, a text file, symlinks in and out; a secret beside it."""
    root = tmp_path / "videos"
    write_indexed_video(root / "a.mp4", 30)
    write_indexed_video(root / "sub" / "b c.mp4", 12)
    (root / "notes.txt").write_text("not a video")
    secret = write_indexed_video(tmp_path / "secret.mp4", 5)
    (root / "outside.mp4").symlink_to(secret)
    (root / "inside.mp4").symlink_to(root / "a.mp4")
    return root


@pytest.fixture
def server(folder, tmp_path):
    with AnnotationServer(folder, labels=["walk", "wave"], proxy_dir=tmp_path / "proxies") as s:
        yield s


# -- token, Host, headers ------------------------------------------------------------------------
def test_every_request_needs_the_token(server):
    assert request(server, "GET", "/api/state", token=False)[0] == 403
    wrong = server.token[:-1] + ("A" if server.token[-1] != "A" else "B")
    assert request(server, "GET", "/api/state", headers={"X-Actionkit-Token": wrong},
                   token=False)[0] == 403  # fmt: skip
    assert request(server, "GET", f"/api/state?token={wrong}", token=False)[0] == 403
    assert request(server, "GET", "/media?video=a.mp4", token=False)[0] == 403
    assert request(server, "GET", f"/api/state?token={server.token}", token=False)[0] == 200
    cookie = {"Cookie": f"other=1; actionkit_token={server.token}"}
    assert request(server, "GET", "/api/state", headers=cookie, token=False)[0] == 200
    status, _, body = request(server, "GET", "/", token=False)
    assert status == 403 and b"token" in body


def test_a_foreign_host_header_is_refused(server):
    port = server.port
    assert request(server, "GET", "/api/state", host=f"evil.com:{port}")[0] == 403
    assert request(server, "GET", "/api/state", host=f"127.0.0.1:{port + 1}")[0] == 403
    assert request(server, "GET", "/api/state", host="127.0.0.1")[0] == 403
    assert request(server, "GET", "/api/state", host=f"localhost:{port}")[0] == 200
    assert request(server, "GET", "/api/state", host=f"[::1]:{port}")[0] == 200


def test_the_page_comes_with_its_cookie_and_security_headers(server):
    status, headers, body = request(server, "GET", f"/?token={server.token}", token=False)
    assert status == 200
    assert body == (STATIC_DIR / "index.html").read_bytes()
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    cookies = headers.get_all("Set-Cookie")
    plain = next(c for c in cookies if c.startswith(f"actionkit_token={server.token};"))
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in plain.split(";")}
    for name in ("app.js", "style.css"):
        status, headers, body = request(server, "GET", f"/static/{name}")
        assert status == 200 and body == (STATIC_DIR / name).read_bytes()
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_state_lists_the_videos_labels_and_revision(server):
    got = state(server)
    assert [v["path"] for v in got["videos"]] == ["a.mp4", "inside.mp4", "sub/b c.mp4"]
    assert got["labels"] == ["walk", "wave"] and got["revision"] == 1  # the labels were saved
    assert got["suggest"] is False and got["annotations"]["labels"] == ["walk", "wave"]
    assert request(server, "GET", "/nothing")[0] == 404


# -- ranges --------------------------------------------------------------------------------------
def test_media_answers_range_requests_byte_exact(server, folder):
    data = (folder / "a.mp4").read_bytes()
    size = len(data)
    status, headers, body = request(server, "GET", "/media?video=a.mp4")
    assert status == 200 and body == data
    assert headers["Accept-Ranges"] == "bytes" and headers["Content-Type"] == "video/mp4"
    cases = {
        "bytes=0-99": (0, 99), "bytes=100-": (100, size - 1), "bytes=-50": (size - 50, size - 1),
        "bytes=10-99999999": (10, size - 1), f"bytes={size - 1}-{size - 1}": (size - 1, size - 1),
        "bytes=-99999999": (0, size - 1),
    }  # fmt: skip
    for header, (first, last) in cases.items():
        status, headers, body = request(server, "GET", "/media?video=a.mp4",
                                        headers={"Range": header})  # fmt: skip
        assert status == 206, header
        assert body == data[first : last + 1], header
        assert headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        status, headers, _ = request(server, "GET", "/media?video=a.mp4", headers={"Range": header})
        assert status == 416 and headers["Content-Range"] == f"bytes */{size}", header
    status, _, body = request(server, "GET", "/media?video=sub/b%20c.mp4",
                              headers={"Range": "bytes=0-3"})  # fmt: skip
    assert status == 206 and body == (folder / "sub" / "b c.mp4").read_bytes()[:4]


def test_a_client_that_hangs_up_mid_transfer_does_not_hurt_the_server(server):
    import socket

    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(f"GET /media?video=a.mp4 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                         f"X-Actionkit-Token: {server.token}\r\n\r\n".encode())  # fmt: skip
            sock.recv(10)
    assert request(server, "GET", "/media?video=a.mp4", headers={"Range": "bytes=0-9"})[0] == 206


# -- path safety ---------------------------------------------------------------------------------
TRAVERSALS = [
    "../secret.mp4", "%2e%2e%2fsecret.mp4", "%252e%252e%252fsecret.mp4", "%2E%2E/secret.mp4",
    "/etc/passwd", "..%5csecret.mp4", "sub%5c..%5c..%5csecret.mp4", "a%00.mp4", "a.mp4%00",
    "outside.mp4", "notes.txt", "sub/../a.mp4", "./a.mp4", "sub//b%20c.mp4", "sub", "",
    "C:/secret.mp4", "missing.mp4",
]  # fmt: skip


@pytest.mark.parametrize("endpoint", ["/media", "/api/probe", "/api/suggestions"])
def test_no_path_outside_the_folder_or_not_a_video_is_served(server, tmp_path, endpoint):
    absolute = str(tmp_path / "secret.mp4").replace("/", "%2F")
    for video in [*TRAVERSALS, absolute]:
        status, _, body = request(server, "GET", f"{endpoint}?video={video}")
        assert status in (403, 404), (endpoint, video, status)
        assert b"ftyp" not in body
    assert request(server, "GET", f"{endpoint}?video=inside.mp4")[0] == 200  # a symlink inside


@pytest.mark.parametrize(
    "target",
    ["/static/../annotations.py", "/static/%2e%2e/server.py", "/static/%2e%2e%2fserver.py",
     "/static/..%2f..%2fannotate%2fserver.py", "/static/", "/static/.", "/static/%2fetc%2fpasswd",
     "/static//etc/passwd", "/static/..%5cserver.py", "/static/app.js%00.html",
     "/static/../../../../etc/passwd"],
)  # fmt: skip
def test_static_serves_only_the_page_files(server, target):
    status, _, body = request(server, "GET", target)
    assert status in (403, 404), target
    assert b"import" not in body and b"root:" not in body


# -- saving --------------------------------------------------------------------------------------
def test_a_save_checks_its_body(server):
    good = state(server)["annotations"]
    assert put(server, good, "text/plain")[0] == 415
    status, _, _ = request(server, "PUT", "/api/annotations", body=b"",
                           headers={"Content-Type": "application/json",
                                    "Content-Length": str(MAX_BODY + 1)})  # fmt: skip
    assert status == 413
    status, body = put(server, b'{\n "revision": 1,\n "labels": [,]\n}')
    assert status == 400 and "line 3" in body["error"]
    status, body = put(server, {**good, "videos": {"a.mp4": {"segments": [{"label": "x"}]}}})
    assert status == 400 and "a.mp4" in body["error"] and "missing" in body["error"]
    status, body = put(server, {**good, "videos": {"zz.mp4": {"segments": []}}})
    assert status == 400 and "zz.mp4" in body["error"]
    status, body = put(server, {**good, "videos": {"../secret.mp4": {"segments": []}}})
    assert status == 400 and "../secret.mp4" in body["error"]
    assert state(server)["revision"] == good["revision"]  # nothing was written


def test_a_good_save_grows_the_revision_and_keeps_a_backup(server, folder):
    before = state(server)["annotations"]
    entry = {"fps": 25.0, "num_frames": 12, "segments": [segment(2, 5, "wave")]}
    change = {**before, "videos": {"sub/b c.mp4": entry}}
    status, body = put(server, change)
    assert status == 200 and body["revision"] == before["revision"] + 1
    saved = json.loads((folder / "annotations.json").read_text())
    assert saved["revision"] == body["revision"]
    assert saved["videos"]["sub/b c.mp4"]["segments"][0]["end_frame"] == 5
    assert json.loads((folder / "annotations.json.bak").read_text()) == before
    now = state(server)
    assert now["revision"] == body["revision"]
    assert {v["path"]: v["segments"] for v in now["videos"]}["sub/b c.mp4"] == 1


def test_a_stale_revision_is_refused(server):
    first = state(server)["annotations"]  # two tabs load the same revision
    second = json.loads(json.dumps(first))
    first["videos"] = {"a.mp4": {"segments": [segment(0, 3)]}}
    assert put(server, first)[0] == 200
    second["videos"] = {"a.mp4": {"segments": [segment(5, 9)]}}
    status, body = put(server, second)
    assert status == 409 and body["revision"] == first["revision"] + 1
    assert "reload" in body["error"]
    kept = load_annotations(server.annotations_path).videos["a.mp4"].segments
    assert [(s.start_frame, s.end_frame) for s in kept] == [(0, 3)]


SERVE = (
    "import sys, time\n"
    "from actionkit.annotate.server import AnnotationServer\n"
    "s = AnnotationServer(sys.argv[1]).start()\n"
    "print(s.port, s.token, flush=True)\n"
    "time.sleep(300)\n"
)


def test_a_server_killed_while_saving_leaves_a_whole_file(folder):
    big = {"videos": {"a.mp4": {"segments": [segment(i % 30, i % 30) for i in range(3000)]}}}
    for delay in (0.02, 0.13, 0.29):
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(folder)],
                                   stdout=subprocess.PIPE, text=True)  # fmt: skip
        port, token = process.stdout.readline().split()
        server = type("S", (), {"port": int(port), "token": token})
        saves = []

        def save_forever(server=server, saves=saves):
            try:
                while True:
                    current = state(server)
                    status, _ = put(server, {**current["annotations"], **big})
                    saves.append(status)
            except (OSError, http.client.HTTPException, json.JSONDecodeError, AssertionError):
                return  # the server is gone

        thread = threading.Thread(target=save_forever, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not saves and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)  # into a later save
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        thread.join(10)
        assert saves and set(saves) == {200}
        loaded = load_annotations(folder / "annotations.json")  # whole: old or new
        assert loaded.revision >= len(saves)
        assert len(loaded.videos["a.mp4"].segments) == 3000


def test_a_corrupt_file_stops_the_server_and_is_kept(folder):
    text = '{\n "revision": 3,\n "labels": ["walk",]\n}\n'
    (folder / "annotations.json").write_text(text)
    with pytest.raises(AnnotationError, match="line 3"):
        AnnotationServer(folder, labels=["run"])
    assert (folder / "annotations.json").read_text() == text
    assert not (folder / "annotations.json.bak").exists()


# -- the command ---------------------------------------------------------------------------------
def start_command(*args):
    process = subprocess.Popen(
        [*COMMAND, "annotate", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines = []
    while not any("?token=" in line for line in lines):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"no URL printed: {lines} {process.stderr.read()}")
        lines.append(line)
    return process, lines


def test_the_command_serves_the_folder_until_ctrl_c(folder, tmp_path):
    import socket
    import urllib.request

    with socket.socket() as busy:  # the default port's fallback is not tested: any free port
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
    process, lines = start_command(folder, "--no-browser", "--port", port, "--labels", "a,b",
                                   "--proxy-dir", tmp_path / "proxies")  # fmt: skip
    try:
        url = next(w for line in lines for w in line.split() if "?token=" in w)
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")
        assert any(f"ssh -L {port}:127.0.0.1:{port}" in line for line in lines)
        token = url.split("token=")[1]
        answer = urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{port}/api/state",
                                   headers={"X-Actionkit-Token": token}), timeout=30
        )  # fmt: skip
        assert json.load(answer)["labels"] == ["a", "b"]
        busy_port = start_command_error(folder, "--no-browser", "--port", port)
        assert busy_port.returncode == 2 and f"--port {port} is in use" in busy_port.stderr
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert str(folder / "annotations.json") in out


def start_command_error(*args):
    return subprocess.run([*COMMAND, "annotate", *map(str, args)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_the_command_names_bad_arguments(folder, tmp_path):
    missing = start_command_error(tmp_path / "nowhere", "--no-browser")
    assert missing.returncode == 2 and "nowhere does not exist" in missing.stderr
    both = start_command_error(folder, "--labels", "a", "--labels-file", "x.txt")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    unreadable = start_command_error(folder, "--labels-file", tmp_path / "none.txt")
    assert unreadable.returncode == 2 and "none.txt: cannot read it" in unreadable.stderr
    label = start_command_error(folder, "--labels", "a," + "x" * 201, "--no-browser")
    assert label.returncode == 2 and "--labels: labels[1]: label 'xxx" in label.stderr
    model = start_command_error(folder, "--suggest", tmp_path / "model.pt", "--no-browser")
    assert model.returncode == 2 and "model.pt does not exist" in model.stderr
    (folder / "annotations.json").write_text('{"revision": 1,\n\n  oops}')
    corrupt = start_command_error(folder, "--no-browser")
    assert corrupt.returncode == 1 and "line 3" in corrupt.stderr
    assert os.path.getsize(folder / "annotations.json") == len('{"revision": 1,\n\n  oops}')
