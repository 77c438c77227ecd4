"""Wall time of the ``actionkit predict`` command on one generated 10-s video (issue 9).

    python benchmarks/bench_cli.py                        # this checkout, 5 runs per setting
    python benchmarks/bench_cli.py --baseline HEAD        # and the committed code, interleaved
    python benchmarks/bench_cli.py --runs 7 --clips 10 1 --batch default 8

Writes, in a temporary folder, a 10-s 320×240 30-fps H.264 video and a saved
``tsm_efficientnet_lite0`` model (its ImageNet backbone, shipped offline; 8 segments at
the 224-px crop), then runs the command as a user does, one process per run:
``python -c <console script> predict MODEL VIDEO --clips N [--batch-size B]``, where the console
script is ``actionkit.cli.console_main`` where it exists (``sys.exit(main())`` before it). Each
setting's wall, user and system seconds are the medians over ``--runs``; the settings are run
in interleaved rounds (one run of each per round) so that load from other processes hits them
alike: compare ratios within one run of this script, not figures between machines.

``--baseline REV`` extracts ``actionkit/`` at that git revision (``git archive``, read only)
into the temporary folder and imports it from there for its runs: same interpreter,
same packages, only the code differs. ``--batch`` ``default`` is each tree's own default (8
before issue 9; 1 on the CPU after); a number passes ``--batch-size`` (the current tree only).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The tree to run comes first on sys.path, and an editable install's finder (which would
# answer `import actionkit` with this checkout whatever sys.path says) is taken out.
LAUNCHER = (
    "import os, sys\n"
    "sys.path.insert(0, os.environ['BENCH_TREE'])\n"
    "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in type(f).__module__]\n"
    "import actionkit.cli as c\n"
    "assert c.__file__.startswith(os.environ['BENCH_TREE']), c.__file__\n"
    "if hasattr(c, 'console_main'):\n"
    "    sys.argv[0] = 'actionkit'; c.console_main()\n"
    "else:\n"
    "    sys.exit(c.main())\n"
)


def make_inputs(folder: Path) -> tuple[Path, Path]:
    """The 10-s video and the model file (written once per run of the script)."""
    from actionkit.models import create_model, save_model
    from actionkit.video import write_video

    t = np.arange(300)[:, None, None, None]
    y = np.arange(240)[None, :, None, None]
    x = np.arange(320)[None, None, :, None]
    wave = np.sin(0.05 * x + 0.03 * y + 0.2 * t + np.array([0.0, 1.0, 2.0]))
    frames = np.clip(128 + 60 * wave, 0, 255).astype(np.uint8)
    video = write_video(folder / "ten_seconds.mp4", frames, fps=30)
    model = create_model("tsm_efficientnet_lite0", num_classes=5, pretrained=True)
    return save_model(model, folder / "model.pt"), video


def extract(rev: str, folder: Path) -> Path:
    """``actionkit/`` at git revision ``rev``, under ``folder``."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "actionkit"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall, user and system seconds of one run of ``cmd`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clips", type=int, nargs="+", default=[10, 1])
    parser.add_argument("--batch", nargs="+", default=["default"], help="'default' or N")
    parser.add_argument("--baseline", metavar="REV", help="also run actionkit/ at this revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, video = make_inputs(folder)
        trees = {"current": ROOT}
        if args.baseline:
            trees[args.baseline] = extract(args.baseline, folder / "baseline")
        settings = []
        for name, tree in trees.items():
            env = {**os.environ, "BENCH_TREE": str(tree)}
            for clips in args.clips:
                for batch in args.batch:
                    if batch != "default" and name != "current":
                        continue
                    extra = [] if batch == "default" else ["--batch-size", batch]
                    cmd = [sys.executable, "-c", LAUNCHER, "predict", str(model), str(video),
                           "--clips", str(clips), *extra]  # fmt: skip
                    settings.append(((name, clips, batch), cmd, env))
        times: dict[tuple, list[tuple[float, float, float]]] = {s[0]: [] for s in settings}
        for _ in range(args.runs):
            for key, cmd, env in settings:
                times[key].append(run_once(cmd, env))
    print(f"`actionkit predict` on a 10-s 320×240 video, tsm_efficientnet_lite0 224 px; "
          f"median of {args.runs}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs\n")  # fmt: skip
    print("| code | clips | batch | wall s | user s | sys s |")
    print("|---|---|---|---|---|---|")
    for (name, clips, batch), runs in times.items():
        wall, user, system = (statistics.median(column) for column in zip(*runs, strict=True))
        print(f"| {name} | {clips} | {batch} | {wall:.2f} | {user:.2f} | {system:.2f} |")


if __name__ == "__main__":
    main()
