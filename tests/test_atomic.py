"""actionkit.utils.atomic on real files: replace on success only, no leftovers, modes, windows."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from matplotlib.figure import Figure

from actionkit.utils import atomic
from actionkit.utils.atomic import atomic_path, new_file_mode, save_figure, write_bytes, write_text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def plain_open_mode(folder: Path) -> int:
    """The permissions a plain ``open()`` gives a new file here and now."""
    reference = folder / "reference-made-by-open"
    with open(reference, "w"):
        pass
    try:
        return mode(reference)
    finally:
        reference.unlink()


@pytest.fixture
def umask():
    """Set the process umask for one test (``new_file_mode`` caches it, so reset that too)."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value: int) -> None:
        os.umask(value)
        new_file_mode.cache_clear()

    yield set_umask
    os.umask(old)
    new_file_mode.cache_clear()


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C raised by the test itself (so it cannot be mistaken for a real one)."""


class InterruptingOs:
    """``os`` as ``actionkit.utils.atomic`` sees it, with one call turned into a Ctrl-C.

    ``open`` with ``O_CREAT`` really creates the file and then raises: the interrupt arrives
    right after the temporary file exists, before the writer ever sees its name.
    """

    def __init__(self, when: str):
        self.when = when
        self.created: list[Path] = []

    def __getattr__(self, name):
        return getattr(os, name)

    def open(self, path, flags, *args, **kwargs):
        fd = os.open(path, flags, *args, **kwargs)
        if self.when == "created" and flags & os.O_CREAT:
            os.close(fd)
            assert Path(path).is_file()  # it is there when the interrupt comes
            self.created.append(Path(path))
            raise Interrupted
        return fd

    def replace(self, src, dst):
        if self.when == "before rename":
            raise Interrupted
        os.replace(src, dst)
        if self.when == "after rename":
            raise Interrupted


# -- success and failure --------------------------------------------------------------------------
def test_write_text_and_bytes_replace_the_target_and_leave_nothing_else(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    assert write_text(target, "new\r\nlines\n") == target
    assert target.read_bytes() == b"new\r\nlines\n"  # UTF-8, newlines as given
    assert write_text(str(target), "ünïcode") == target  # a str path works and gives a Path
    assert target.read_text(encoding="utf-8") == "ünïcode"
    blob = tmp_path / "blob.bin"
    assert write_bytes(blob, bytes(range(256))) == blob
    assert blob.read_bytes() == bytes(range(256))
    assert listing(tmp_path) == ["blob.bin", "notes.txt"]


def test_the_target_changes_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        assert tmp.is_file() and tmp.read_bytes() == b""  # created, empty, for the writer
        assert tmp.name.startswith(".model.pt.") and tmp.name.endswith(".tmp")  # hidden
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # not yet
    assert target.read_bytes() == b"new"
    assert not tmp.exists()
    assert listing(tmp_path) == ["model.pt"]


def test_prefix_and_suffix_name_the_temporary_file(tmp_path):
    with atomic_path(tmp_path / "plot.png", prefix="partial-", suffix=".png") as tmp:
        assert tmp.name.startswith("partial-") and tmp.name.endswith(".png")
        tmp.write_bytes(b"png")
    assert listing(tmp_path) == ["plot.png"]


@pytest.mark.parametrize("error", [ValueError("writer failed"), Interrupted()])
def test_an_error_in_the_block_keeps_the_old_file_and_removes_the_temporary(tmp_path, error):
    target = tmp_path / "data.json"
    target.write_text("old")
    with pytest.raises(type(error)) as raised, atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise error
    assert raised.value is error
    assert target.read_text() == "old"
    assert not tmp.exists()
    assert listing(tmp_path) == ["data.json"]


@pytest.mark.parametrize("error", [ValueError("writer failed"), Interrupted()])
def test_an_error_before_the_first_write_leaves_no_file_at_all(tmp_path, error):
    target = tmp_path / "new" / "data.json"
    with pytest.raises(type(error)), atomic_path(target):
        raise error
    assert listing(tmp_path / "new") == []


def test_missing_parent_folders_are_created(tmp_path):
    target = tmp_path / "a" / "b" / "c" / "out.txt"
    write_text(target, "deep")
    assert target.read_text() == "deep"
    assert listing(target.parent) == ["out.txt"]


# -- permissions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_get_what_a_plain_open_gives(tmp_path, umask, mask):
    umask(mask)
    expected = plain_open_mode(tmp_path)
    assert expected == 0o666 & ~mask
    assert new_file_mode() == expected
    assert mode(write_text(tmp_path / "t.txt", "x")) == expected
    assert mode(write_bytes(tmp_path / "b.bin", b"x")) == expected
    with atomic_path(tmp_path / "p.bin") as tmp:
        tmp.write_bytes(b"x")
        os.chmod(tmp, 0o700)  # whatever the writer did: a plain open()'s mode wins
    assert mode(tmp_path / "p.bin") == expected


def test_a_replaced_file_gets_the_new_file_mode_too(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "t.txt"
    target.write_text("old")
    os.chmod(target, 0o600)
    write_text(target, "new")
    assert mode(target) == 0o644


def test_keep_mode_keeps_what_the_writer_gave_the_file(tmp_path, umask):
    umask(0o022)
    with atomic_path(tmp_path / "script.sh", keep_mode=True) as tmp:
        tmp.write_text("#!/bin/sh\n")
        os.chmod(tmp, 0o750)
    assert mode(tmp_path / "script.sh") == 0o750
    with atomic_path(tmp_path / "private.key", keep_mode=True) as tmp:
        tmp.write_text("secret")  # the writer set nothing: the private creation mode stays
    assert mode(tmp_path / "private.key") == 0o600


# -- figures --------------------------------------------------------------------------------------
def small_figure() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1, 2], [1, 0, 1])
    return fig


def test_save_figure_picks_the_format_from_the_suffix(tmp_path):
    fig = small_figure()
    png = save_figure(fig, tmp_path / "plots" / "curve.png", dpi=50)
    assert png == tmp_path / "plots" / "curve.png"
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in save_figure(fig, tmp_path / "plots" / "curve.SVG").read_bytes()
    assert save_figure(fig, tmp_path / "plots" / "curve").read_bytes().startswith(b"\x89PNG")
    assert save_figure(fig, tmp_path / "plots" / "curve.pdf").read_bytes().startswith(b"%PDF")
    assert listing(tmp_path / "plots") == ["curve", "curve.SVG", "curve.pdf", "curve.png"]
    assert mode(png) == plain_open_mode(tmp_path)


def test_save_figure_with_a_tight_box_is_smaller_than_the_full_canvas(tmp_path):
    from PIL import Image

    fig = small_figure()
    full = Image.open(save_figure(fig, tmp_path / "full.png", dpi=40)).size
    tight = Image.open(save_figure(fig, tmp_path / "tight.png", dpi=40, bbox_inches="tight"))
    assert full == (80, 60)  # 2 × 1.5 inches at 40 dpi
    assert tight.size != full


def test_a_failed_save_figure_keeps_the_old_file(tmp_path):
    target = tmp_path / "figure.nope"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="nope"):
        save_figure(small_figure(), target)
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["figure.nope"]


# -- Ctrl-C at the worst moments ------------------------------------------------------------------
def test_ctrl_c_right_after_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    # The window the temporary file used to have: created, but not yet inside the cleanup.
    target = tmp_path / "weights.pth"
    target.write_bytes(b"old")
    fake = InterruptingOs("created")
    monkeypatch.setattr(atomic, "os", fake)
    entered = False
    with pytest.raises(Interrupted), atomic_path(target):
        entered = True
    assert not entered
    assert len(fake.created) == 1 and fake.created[0].parent == tmp_path
    assert not fake.created[0].exists()
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["weights.pth"]


def test_ctrl_c_right_after_creating_a_new_file_leaves_no_file(tmp_path, monkeypatch):
    fake = InterruptingOs("created")
    monkeypatch.setattr(atomic, "os", fake)
    with pytest.raises(Interrupted):
        write_text(tmp_path / "out" / "new.txt", "never written")
    assert fake.created and listing(tmp_path / "out") == []


def test_ctrl_c_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.csv"
    target.write_text("old")
    monkeypatch.setattr(atomic, "os", InterruptingOs("before rename"))
    with pytest.raises(Interrupted):
        write_text(target, "new")
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["report.csv"]


def test_ctrl_c_after_the_rename_keeps_the_new_file(tmp_path, monkeypatch):
    target = tmp_path / "report.csv"
    target.write_text("old")
    monkeypatch.setattr(atomic, "os", InterruptingOs("after rename"))
    with pytest.raises(Interrupted):
        write_text(target, "new")
    assert target.read_text() == "new"  # complete: the rename happened; cleanup removed nothing
    assert listing(tmp_path) == ["report.csv"]


# -- a temporary name that is taken -------------------------------------------------------------
def fixed_tokens(monkeypatch, *tokens: str) -> list[str]:
    """``secrets.token_hex`` as atomic sees it hands out ``tokens`` in turn (the last one
    forever); returns the list of tokens handed out."""
    handed: list[str] = []

    def token_hex(nbytes=None):
        handed.append(tokens[min(len(handed), len(tokens) - 1)])
        return handed[-1]

    monkeypatch.setattr(atomic, "secrets", SimpleNamespace(token_hex=token_hex))
    return handed


def test_a_file_that_has_the_temporary_name_is_never_touched(tmp_path, monkeypatch):
    handed = fixed_tokens(monkeypatch, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    target = tmp_path / "out.txt"
    theirs = tmp_path / ".out.txt.aaaaaaaaaaaa.tmp"
    theirs.write_text("someone else's")
    os.chmod(theirs, 0o640)
    write_text(target, "mine")
    assert handed == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    assert target.read_text() == "mine"
    assert theirs.read_text() == "someone else's" and mode(theirs) == 0o640
    assert listing(tmp_path) == [theirs.name, "out.txt"]


def test_a_taken_name_survives_a_failed_write_too(tmp_path, monkeypatch):
    fixed_tokens(monkeypatch, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    theirs = tmp_path / ".out.txt.aaaaaaaaaaaa.tmp"
    theirs.write_text("someone else's")
    with pytest.raises(Interrupted), atomic_path(tmp_path / "out.txt") as tmp:
        assert tmp.name == ".out.txt.bbbbbbbbbbbb.tmp"
        tmp.write_text("half")
        raise Interrupted
    assert theirs.read_text() == "someone else's"
    assert listing(tmp_path) == [theirs.name]


def test_no_free_temporary_name_is_an_error_that_removes_nothing(tmp_path, monkeypatch):
    handed = fixed_tokens(monkeypatch, "aaaaaaaaaaaa")
    target = tmp_path / "out.txt"
    target.write_text("old")
    theirs = tmp_path / ".out.txt.aaaaaaaaaaaa.tmp"
    theirs.write_text("someone else's")
    with pytest.raises(FileExistsError, match="no free temporary file name"):
        write_text(target, "new")
    assert len(handed) == 100
    assert target.read_text() == "old" and theirs.read_text() == "someone else's"
    assert listing(tmp_path) == [theirs.name, "out.txt"]
