"""HMDB51 / UCF101 download and extraction, against small RAR and ZIP archives built offline
(``tests/_rar_fixtures.py``) served by a real local HTTP server and from ``file://`` URLs."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys

import pytest

from actionkit.data import VideoDataset
from actionkit.datasets._archive import ArchiveError, extract
from actionkit.datasets.hmdb51 import (
    HMDB51_SPLITS_URL,
    HMDB51_URL,
    download_hmdb51,
    make_hmdb51_like,
)
from actionkit.datasets.ucf101 import download_ucf101
from actionkit.resources import hmdb51_classes
from actionkit.utils.download import DownloadError
from tests._rar_fixtures import (
    BSDTAR_STANDIN,
    HMDB_CLASSES,
    UCF_CLASSES,
    FileServer,
    hmdb51_archives,
    rar_bytes,
    rename_in_rar5,
    tar_file,
    ucf101_archives,
    zip_bytes,
)

HMDB_NAMES = ("hmdb51_org.rar", "test_train_splits.rar")
UCF_NAMES = ("UCF101.rar", "UCF101TrainTestSplits-RecognitionTask.zip")


@pytest.fixture(scope="module")
def hmdb_rar29(tmp_path_factory):
    return hmdb51_archives(tmp_path_factory.mktemp("hmdb29"), "rar29")


@pytest.fixture(scope="module")
def hmdb_rar5_bare(tmp_path_factory):
    """RAR5, inner archives holding bare ``<video>.avi`` names (no class folder)."""
    return hmdb51_archives(tmp_path_factory.mktemp("hmdb5"), "rar50", class_folder=False)


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return ucf101_archives(tmp_path_factory.mktemp("ucf"))


@pytest.fixture
def serve():
    servers = []

    def start(*paths):
        servers.append(FileServer({p.name: p.read_bytes() for p in paths}))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _closed_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def _check_hmdb(files, root):
    assert files.videos == root / "hmdb51_org"
    assert files.splits == root / "testTrainMulti_7030_splits"
    for cls in HMDB_CLASSES:
        assert sorted(p.name for p in (files.videos / cls).iterdir()) == [
            f"{cls}_video_{i}.avi" for i in range(5)
        ]
    assert len(list(files.splits.glob("*_test_split?.txt"))) == 9
    for split in (1, 2, 3):
        train = VideoDataset.from_hmdb51(files.videos, files.splits, split=split)
        test = VideoDataset.from_hmdb51(files.videos, files.splits, split=split, train=False)
        assert (len(train), len(test)) == (9, 3)
        assert not train.missing and not test.missing
        labels = {train.classes[s.label] for s in train.samples}
        assert labels == set(HMDB_CLASSES) and len(train.classes) == 51
    assert not (root / "archives" / "hmdb51_org").exists()  # the inner archives are gone
    assert not list(root.rglob("*.extracting")) and not list(root.rglob("*.partial"))


# -- HMDB51 --------------------------------------------------------------------------------------
def test_hmdb51_rar29_over_http_then_nothing_is_fetched_again(tmp_path, hmdb_rar29, serve):
    server = serve(*hmdb_rar29)
    root = tmp_path / "hmdb"
    urls = {"url": server.url(HMDB_NAMES[0]), "splits_url": server.url(HMDB_NAMES[1])}
    files = download_hmdb51(root, progress=False, **urls)
    _check_hmdb(files, root)
    assert sorted(p.name for p in (root / "archives").iterdir()) == sorted(HMDB_NAMES)
    sample = VideoDataset.from_hmdb51(files.videos, files.splits)[0]
    assert tuple(sample["video"].shape[:2]) == (3, 8)  # the unpacked AVI decodes
    requests = len(server.seen)
    shutil.rmtree(root / "archives")  # unpacked: the archives are no longer needed
    assert download_hmdb51(root, progress=False, **urls) == files
    assert len(server.seen) == requests


def test_hmdb51_rar5_from_file_urls_with_bare_inner_names(tmp_path, hmdb_rar5_bare):
    videos, splits = hmdb_rar5_bare
    root = tmp_path / "hmdb"
    files = download_hmdb51(root, progress=False, url=videos.as_uri(), splits_url=splits.as_uri())
    _check_hmdb(files, root)


def test_offline_error_says_where_to_put_both_archives_and_then_uses_them(
    tmp_path, hmdb_rar29, no_network
):
    root = tmp_path / "hmdb"
    with pytest.raises(DownloadError) as caught:
        download_hmdb51(root, progress=False)
    message = str(caught.value)
    for url, name in zip((HMDB51_URL, HMDB51_SPLITS_URL), HMDB_NAMES, strict=True):
        assert url in message
        assert str(root / "archives" / name) in message
    assert "hash" not in message  # none is published: the message promises no check
    # Put by hand: one in ROOT/archives/, one in ROOT/ -- both are picked up, still offline.
    shutil.copy(hmdb_rar29[0], root / "archives" / HMDB_NAMES[0])
    shutil.copy(hmdb_rar29[1], root / HMDB_NAMES[1])
    _check_hmdb(download_hmdb51(root, progress=False), root)


def test_interrupted_download_resumes_with_a_range_request(tmp_path, hmdb_rar29, serve):
    server = serve(*hmdb_rar29)
    server.httpd.drops = 3  # every attempt of the first call is cut short after a third
    root = tmp_path / "hmdb"
    urls = {"url": server.url(HMDB_NAMES[0]), "splits_url": server.url(HMDB_NAMES[1])}
    with pytest.raises(DownloadError, match="next call resumes it"):
        download_hmdb51(root, progress=False, **urls)
    partials = list((root / "archives").glob("*.partial"))
    assert partials and not (root / "hmdb51_org").exists()
    _check_hmdb(download_hmdb51(root, progress=False, **urls), root)
    resumed = [rng for _, rng in server.seen if rng]
    assert resumed and all(rng.startswith("bytes=") and rng != "bytes=0-" for rng in resumed)


def test_interrupted_class_extraction_resumes_without_the_outer_archive(tmp_path, hmdb_rar29):
    root = tmp_path / "hmdb"
    videos, splits = hmdb_rar29
    inner_dir = root / "archives" / "hmdb51_org"
    extract(videos, inner_dir, progress=False)  # the outer archive was unpacked...
    extract(inner_dir / "brush_hair.rar", root / "hmdb51_org", progress=False)
    (inner_dir / "brush_hair.rar").unlink()  # ...and one class, when the run was killed
    half = root / "hmdb51_org" / ".cartwheel.rar.extracting" / "cartwheel" / "cartwheel_video_0.avi"
    half.parent.mkdir(parents=True)
    half.write_bytes(b"half a video")
    done = root / "hmdb51_org" / "brush_hair" / "brush_hair_video_0.avi"
    stamp = done.stat().st_mtime_ns
    # The videos archive is not needed any more: an unreachable URL is never asked for.
    files = download_hmdb51(root, progress=False, url=_closed_url(HMDB_NAMES[0]),
                            splits_url=splits.as_uri())  # fmt: skip
    _check_hmdb(files, root)
    assert done.stat().st_mtime_ns == stamp  # the finished class was not unpacked again


# -- UCF101 --------------------------------------------------------------------------------------
def _check_ucf(files, root):
    assert files.videos == root / "UCF-101"  # the archive's folder name
    assert files.splits == root / "ucfTrainTestlist"
    for cls in UCF_CLASSES:
        assert len(list((files.videos / cls).glob("v_*_g??_c01.avi"))) == 4
    for split in (1, 2, 3):
        train = VideoDataset.from_ucf101(files.videos, files.splits, split=split)
        test = VideoDataset.from_ucf101(files.videos, files.splits, split=split, train=False)
        assert (len(train), len(test)) == (9, 3) and len(train.classes) == 101
        assert not train.missing and not test.missing
        assert {train.classes[s.label] for s in test.samples} == set(UCF_CLASSES)


def test_ucf101_rar_over_http_and_zip_from_a_file_url(tmp_path, ucf, serve):
    server = serve(ucf[0])
    root = tmp_path / "ucf"
    files = download_ucf101(root, progress=False, url=server.url(UCF_NAMES[0]),
                            splits_url=ucf[1].as_uri())  # fmt: skip
    _check_ucf(files, root)
    assert (root / ".UCF101.rar.extracted").is_file()


def test_interrupted_extraction_resumes_and_skips_finished_members(tmp_path, ucf):
    root = tmp_path / "ucf"
    files = download_ucf101(root, progress=False, url=ucf[0].as_uri(), splits_url=ucf[1].as_uri())
    # What a killed extraction leaves: no marker, a member half-written in the staging folder,
    # that member missing from its place, and one other member of the wrong size (a file
    # someone copied in by hand and cut short).
    (root / ".UCF101.rar.extracted").unlink()
    gone = files.videos / "YoYo" / "v_YoYo_g09_c01.avi"
    good = gone.read_bytes()
    gone.unlink()
    half = root / ".UCF101.rar.extracting" / "UCF-101" / "YoYo" / gone.name
    half.parent.mkdir(parents=True)
    half.write_bytes(good[:100])
    short = files.videos / "Basketball" / "v_Basketball_g08_c01.avi"
    whole = short.read_bytes()
    short.write_bytes(whole[:50])
    kept = files.videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi"
    inode, stamp = kept.stat().st_ino, kept.stat().st_mtime_ns
    files = download_ucf101(root, progress=False, url=ucf[0].as_uri(), splits_url=ucf[1].as_uri())
    assert gone.read_bytes() == good and short.read_bytes() == whole
    assert (kept.stat().st_ino, kept.stat().st_mtime_ns) == (inode, stamp)  # skipped
    assert not (root / ".UCF101.rar.extracting").exists()
    assert (root / ".UCF101.rar.extracted").is_file()
    _check_ucf(files, root)


# -- damaged, wrong and hostile archives ---------------------------------------------------------
def test_truncated_archive_is_named_in_the_error(tmp_path, ucf):
    root = tmp_path / "ucf"
    (root / "archives").mkdir(parents=True)
    data = ucf[0].read_bytes()
    bad = root / "archives" / UCF_NAMES[0]
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError) as caught:
        download_ucf101(root, progress=False, url=_closed_url(UCF_NAMES[0]),
                        splits_url=ucf[1].as_uri())  # fmt: skip
    assert str(bad) in str(caught.value) and "damaged or incomplete" in str(caught.value)
    assert not (root / ".UCF101.rar.extracted").exists()


def test_damaged_member_leaves_no_file_that_looks_whole(tmp_path):
    video = bytes(range(256)) * 64
    data = bytearray(rar_bytes({"d/a.avi": b"first" * 100, "d/b.avi": video}, store=True))
    data[data.index(video) + 5000] ^= 0xFF  # one byte of b.avi's stored data
    archive = tmp_path / "damaged.rar"
    archive.write_bytes(bytes(data))
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match=r"damaged\.rar.*hash mismatch"):
        extract(archive, dest, progress=False)
    assert (dest / "d" / "a.avi").read_bytes() == b"first" * 100  # complete before the damage
    assert not (dest / "d" / "b.avi").exists()
    assert [p.name for p in dest.iterdir()] == ["d"]  # no staging folder, no marker


def test_a_web_page_saved_as_the_archive_is_recognised(tmp_path):
    page = tmp_path / "hmdb51_org.rar"
    page.write_text("<!DOCTYPE html><html><body>Not Found</body></html>")
    with pytest.raises(ArchiveError, match=r"hmdb51_org\.rar .*looks like an HTML page"):
        extract(page, tmp_path / "out", progress=False)


def test_an_archive_with_the_wrong_content_is_refused(tmp_path, ucf):
    wrong = tmp_path / UCF_NAMES[0]
    wrong.write_bytes(rar_bytes({"UCF-101/NotAClass/v_x.avi": b"x", "UCF-101/YoYo/a.txt": b"y"}))
    with pytest.raises(ArchiveError, match=r"not the archive expected.*NotAClass"):
        download_ucf101(tmp_path / "ucf", progress=False, url=str(wrong), splits_url=str(ucf[1]))


@pytest.mark.parametrize(
    "kind", ["rar-dotdot", "rar-symlink", "zip-dotdot", "zip-absolute", "zip-drive", "zip-link"]
)
def test_members_that_would_land_outside_are_refused(tmp_path, kind):
    if kind == "rar-dotdot":
        data = rar_bytes({"ok/a.avi": b"fine", "xx/evil.avi": b"evil"})
        data, member = rename_in_rar5(data, b"xx/evil.avi", b"../evil.avi"), "../evil.avi"
    elif kind == "rar-symlink":
        import rars

        builder = rars.RarBuilder(format="rar50")
        builder.add_bytes(b"fine", "ok/a.avi")
        builder.add_unix_symlink("ok/link.avi", "/etc/passwd")
        data, member = builder.to_bytes(), "ok/link.avi"
    else:
        member = {"zip-dotdot": "ok/../../evil.avi", "zip-absolute": "/tmp/evil.avi",
                  "zip-drive": "C:\\evil.avi", "zip-link": "ok/link.avi"}[kind]  # fmt: skip
        links = {member: "/etc/passwd"} if kind == "zip-link" else {}
        plain = {} if links else {member: b"evil"}
        data = zip_bytes({"ok/a.avi": b"fine", **plain}, links)
    archive = tmp_path / ("hostile.rar" if kind.startswith("rar") else "hostile.zip")
    archive.write_bytes(data)
    dest = tmp_path / "root" / "out"
    with pytest.raises(ArchiveError) as caught:
        extract(archive, dest, progress=False)
    assert repr(member) in str(caught.value) and str(archive) in str(caught.value)
    assert not dest.exists()  # refused before anything was written
    assert not (tmp_path / "root" / "evil.avi").exists() and not (tmp_path / "evil.avi").exists()


# -- the unar / bsdtar fall-back -----------------------------------------------------------------
@pytest.fixture
def bsdtar(tmp_path, monkeypatch):
    """The real bsdtar (or unar) where installed, else a stand-in on PATH."""
    if shutil.which("bsdtar") or shutil.which("unar"):
        return
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "bsdtar"
    tool.write_text(BSDTAR_STANDIN.format(python=sys.executable))
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_what_rars_cannot_read_goes_to_the_fallback_tool(tmp_path, bsdtar):
    odd = tmp_path / "odd.rar"  # not a RAR at all: rars refuses it, bsdtar reads it
    tar_file(odd, {"UCF-101/YoYo/v_YoYo_g01_c01.avi": b"video", "UCF-101/YoYo/b.avi": b"more"})
    info = extract(odd, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "UCF-101" / "YoYo" / "b.avi").read_bytes() == b"more"
    assert info["files"] == 2 and info["top"] == ["UCF-101"]
    linked = tmp_path / "linked.rar"
    tar_file(linked, {"a/x.avi": b"x"}, links=["a/link.avi"])
    with pytest.raises(ArchiveError, match=r"linked\.rar holds the member 'a/link.avi'"):
        extract(linked, tmp_path / "out2", progress=False)
    assert not (tmp_path / "out2" / "a").exists()


# -- the generated stand-in ----------------------------------------------------------------------
def test_make_hmdb51_like_loads_with_the_official_reader(tmp_path):
    files = make_hmdb51_like(tmp_path / "like", train_per_class=3, test_per_class=2, frames=12)
    for split in (1, 2, 3):
        train = VideoDataset.from_hmdb51(files.videos, files.splits, split=split)
        test = VideoDataset.from_hmdb51(files.videos, files.splits, split=split, train=False)
        assert (len(train), len(test)) == (9, 6)
        assert {s.path for s in train.samples}.isdisjoint(s.path for s in test.samples)

    def held_out(split):
        test = VideoDataset.from_hmdb51(files.videos, files.splits, split=split, train=False)
        return {s.path.name for s in test.samples}

    assert held_out(1) != held_out(2) != held_out(3)  # each split holds out other videos
    clip = train[0]["video"]
    assert clip.shape[1] == 8 and clip.std() > 0.01  # a real, decodable, non-blank video
    with open(train.samples[0].path, "rb") as f:
        assert f.read(4) == b"RIFF"
    stamp = train.samples[0].path.stat().st_mtime_ns
    again = make_hmdb51_like(tmp_path / "like", train_per_class=3, test_per_class=2, frames=12)
    assert again == files and train.samples[0].path.stat().st_mtime_ns == stamp  # reused
    with pytest.raises(ValueError, match=r"'jumping' is not an HMDB51 class.*brush_hair"):
        make_hmdb51_like(tmp_path / "bad", classes=("jumping",))
    assert "brush_hair" in hmdb51_classes()


# -- the command ---------------------------------------------------------------------------------
def _registered() -> bool:
    from actionkit.cli import build_parser

    subs = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return any("download" in a.choices for a in subs)


def _cli(argv, capsys):
    """``actionkit ARGV`` through :func:`actionkit.cli.main` once ``download`` is registered
    there; until then through a parser built from this command's ``COMMANDS`` (as main does:
    a UsageError is exit status 2)."""
    from actionkit.cli import download as command
    from actionkit.cli import main
    from actionkit.cli._common import UsageError

    if _registered():
        status = main(argv)
    else:
        parser = argparse.ArgumentParser(prog="actionkit")
        sub = parser.add_subparsers(dest="command", required=True)
        for add in command.COMMANDS:
            add(sub, argparse.ArgumentParser(add_help=False))
        args = parser.parse_args(argv)
        try:
            status = args.run(args)
        except UsageError as exc:
            print(f"actionkit: error: {exc}", file=sys.stderr)
            status = 2
    out = capsys.readouterr()
    return status, out.out, out.err


def test_cli_downloads_and_prints_how_to_load_and_prepare(tmp_path, ucf, hmdb_rar29, capsys):
    root = tmp_path / "ucf"
    argv = ["download", "ucf101", str(root), "--url", ucf[0].as_uri(), "--splits-url", str(ucf[1])]
    status, out, _ = _cli(argv, capsys)
    assert status == 0
    assert f"videos: {root / 'UCF-101'}" in out
    assert f"VideoDataset.from_ucf101('{root / 'UCF-101'}', '{root / 'ucfTrainTestlist'}'" in out
    assert f"actionkit prepare {root / 'UCF-101'} {root / 'ucf101_128'} --short-side 128" in out
    assert len(list((root / "UCF-101").glob("*/*.avi"))) == 12

    hroot = tmp_path / "hmdb"
    argv = ["download", "hmdb51", str(hroot), "--split-only", "--splits-url", str(hmdb_rar29[1])]
    status, out, _ = _cli(argv, capsys)
    assert status == 0 and out.strip() == f"splits: {hroot / 'testTrainMulti_7030_splits'}"
    assert len(list((hroot / "testTrainMulti_7030_splits").iterdir())) == 9
    assert not (hroot / "hmdb51_org").exists()


def test_cli_offline_exits_2_saying_where_to_put_the_archives(tmp_path, capsys, no_network):
    root = tmp_path / "hmdb"
    status, out, err = _cli(["download", "hmdb51", str(root)], capsys)
    assert status == 2 and out == ""
    assert HMDB51_URL in err and str(root / "archives" / "hmdb51_org.rar") in err


def test_cli_damaged_archive_exits_1_naming_it(tmp_path, ucf, capsys):
    root = tmp_path / "ucf"
    (root / "archives").mkdir(parents=True)
    bad = root / "archives" / UCF_NAMES[0]
    bad.write_bytes(ucf[0].read_bytes()[:300])
    argv = ["download", "ucf101", str(root), "--splits-url", str(ucf[1])]
    status, _, err = _cli(argv, capsys)
    assert status == 1 and str(bad) in err and "damaged or incomplete" in err
