"""Fixtures shared by the test files: a private weights cache, no network, the shared clips."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

# -- in CI, a skip is a failure (but for the tests that need a GPU) ------------------------------
#: Skip reasons CI accepts: it has no GPU.
CI_SKIPS = ("needs a CUDA device", "this machine has a GPU")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("ACTIONKIT_CI") and report.skipped:
        reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report)
        if not any(allowed in reason for allowed in CI_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI (.ci/run installs what it needs): {reason}"


# -- a private, empty weights cache -------------------------------------------------------------
@pytest.fixture
def private_cache(tmp_path, monkeypatch) -> Path:
    """This test's own, empty weights cache (returned); the user's cache is never touched.

    ``ACTIONKIT_CACHE`` is where actionkit keeps downloads; ``TORCH_HOME`` is set too, since the
    checkpoints torchvision already fetched (``$TORCH_HOME/hub/checkpoints``) are reused.
    """
    cache = tmp_path / "cache"
    monkeypatch.setenv("ACTIONKIT_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return cache


@pytest.fixture
def no_network(private_cache, monkeypatch) -> Path:
    """A private cache, and ``urllib.request.urlopen`` opens ``file:`` URLs only.

    Weights never come from the internet in the tests: any other URL raises ``URLError``.
    """
    real = urllib.request.urlopen

    def only_files(request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        if not str(url).startswith("file:"):
            raise urllib.error.URLError("network disabled in tests")
        return real(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", only_files)
    return private_cache


# -- the shared real-world clips ----------------------------------------------------------------
def find_shared_data() -> Path | None:
    """``shared/data`` beside the checkout (or inside it, or ``/work/shared``), if it is there.

    The first of those holding ``data/videos`` counts; the class lists sit beside the videos.
    """
    here = Path(__file__).resolve().parents
    for root in (here[2] / "shared", here[1] / "shared", Path("/work/shared")):
        if (root / "data" / "videos").is_dir():
            return root / "data"
    return None


SHARED_MISSING = "the shared real-world clips (../shared/data/videos) are not here"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (real-world clips in ``videos/``, class lists); skips without it."""
    data = find_shared_data()
    if data is None:
        pytest.skip(SHARED_MISSING)
    return data


@pytest.fixture(scope="session")
def shared_videos(shared_data) -> Path:
    """The folder of shared real-world clips; skips (one rule, one message) where it is absent."""
    return shared_data / "videos"
