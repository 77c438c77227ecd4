"""Training throughput (clips/s) and how much of each step waits for data.

    python benchmarks/bench_train.py                      # the demo model on this CPU
    python benchmarks/bench_train.py --workers 0 1 2 --threads 1 2
    python benchmarks/bench_train.py --workers 0 --omp passive --channels-last on --compile both
    python benchmarks/bench_train.py --device cuda --models r2plus1d_34_8_ig65m \\
        --precision fp32 bf16 --channels-last both

Three figures per setting, each from its own fresh process (the OpenMP settings only take effect
before torch starts):

* ``model``: forward + backward + optimizer step on a batch already in memory, the ceiling;
* ``data``: the DataLoader alone (decode, sample, augment, collate);
* ``train``: the training step fed by the DataLoader, and the
  share of the step spent waiting for the next batch.

The data is the generated sample dataset (160×120 H.264, i.e. already "prepared"); on CUDA with
``--synthetic`` the model figure alone is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = "tsm_efficientnet_lite0"


def _one(args: argparse.Namespace) -> dict:
    """Measure one setting in this process (called in a subprocess)."""
    import torch

    from actionkit.data import VideoDataset
    from actionkit.train.workflow import build_model

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    crop = 112 if args.model == DEMO else None
    model = build_model(args.model, 6, pretrained=False, crop_size=crop).to(device).train()
    spec = model.input_spec
    fmt = torch.channels_last if spec.layout == "KCHW" else torch.channels_last_3d
    if args.channels_last:
        model = model.to(memory_format=fmt)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    scaler = torch.amp.GradScaler(enabled=args.precision == "fp16")
    forward = torch.compile(model) if args.compile else model

    def step(video: torch.Tensor, label: torch.Tensor) -> None:
        video = video.to(device, non_blocking=True)
        if args.channels_last and video.ndim == 5 and spec.layout == "CTHW":
            video = video.contiguous(memory_format=fmt)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(forward(video).float(), label.to(device))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    shape = (args.batch, spec.num_segments, 3, spec.crop_size, spec.crop_size)
    if spec.layout == "CTHW":
        shape = (args.batch, 3, spec.clip_len, spec.crop_size, spec.crop_size)
    video, label = torch.randn(shape), torch.randint(0, 6, (args.batch,))
    start = time.perf_counter()
    step(video, label)  # includes torch.compile's compilation
    sync()
    first = time.perf_counter() - start
    step(video, label)
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        step(video, label)
    sync()
    result = {"model_clips_s": args.batch * args.steps / (time.perf_counter() - start)}
    result["first_step_s"] = first
    if args.synthetic:
        return result

    dataset = VideoDataset.from_folder(args.data, spec=spec, flip=False, crop="random")
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers, drop_last=True,
        persistent_workers=args.workers > 0, pin_memory=device.type == "cuda",
    )  # fmt: skip
    batches = iter(loader)
    next(batches)  # start the workers
    start, count = time.perf_counter(), 0
    for batch in batches:
        count += len(batch["label"])
    result["data_clips_s"] = count / (time.perf_counter() - start)

    waited = clips = 0.0
    start = time.perf_counter()
    mark = start
    for batch in loader:
        waited += time.perf_counter() - mark
        step(batch["video"], batch["label"])
        sync()
        clips += len(batch["label"])
        mark = time.perf_counter()
    total = time.perf_counter() - start
    result.update(train_clips_s=clips / total, data_wait_share=waited / total)
    return result


def _settings(args: argparse.Namespace) -> list[dict]:
    modes = {"off": [False], "on": [True], "both": [False, True]}
    return [
        {"model": m, "workers": w, "threads": t, "omp": o, "precision": p, "channels_last": c,
         "compile": k}
        for m in args.models for p in args.precision for c in modes[args.channels_last]
        for k in modes[args.compile] for w in args.workers for t in args.threads
        for o in args.omp
    ]  # fmt: skip


def _run(setting: dict, args: argparse.Namespace) -> dict:
    env = {**os.environ}
    if setting["omp"] == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env.pop("OMP_WAIT_POLICY", None)
    cmd = [
        sys.executable, __file__, "--_one", "--data", str(args.data), "--device", args.device,
        "--batch", str(args.batch), "--steps", str(args.steps), "--model", setting["model"],
        "--workers-one", str(setting["workers"]), "--threads-one", str(setting["threads"]),
        "--precision-one", setting["precision"],
    ] + (["--channels-last-one"] if setting["channels_last"] else []) + (
        ["--compile-one"] if setting["compile"] else []
    ) + (
        ["--synthetic"] if args.synthetic else []
    )  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {**setting, "error": out.stderr.strip().splitlines()[-1]}
    return {**setting, **json.loads(out.stdout.strip().splitlines()[-1])}


def _table(rows: list[dict]) -> str:
    head = "| model | precision | channels_last | compile | workers | threads | OMP wait | "
    head += "first step s | model clips/s | data clips/s | train clips/s | waiting for data |\n"
    head += "|---" * 12 + "|"
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['precision']} | | | | | | error: {r['error']} |||||")
            continue
        keys = ("first_step_s", "model_clips_s", "data_clips_s", "train_clips_s")
        fig = [f"{r.get(k, float('nan')):.1f}" for k in keys]
        share = f"{100 * r['data_wait_share']:.0f} %" if "data_wait_share" in r else "–"
        lines.append(
            f"| {r['model']} | {r['precision']} | {'yes' if r['channels_last'] else 'no'} | "
            f"{'yes' if r['compile'] else 'no'} | {r['workers']} | {r['threads']} | {r['omp']} | "
            f"{' | '.join(fig)} | {share} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=[DEMO])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=8, help="timed steps for the model figure")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count() or 1])
    p.add_argument("--omp", nargs="+", default=["default", "passive"])
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    p.add_argument("--channels-last", default="off", choices=["off", "on", "both"])
    p.add_argument(
        "--compile",
        default="off",
        choices=["off", "on", "both"],
        help="torch.compile the training step (first step includes compiling)",
    )
    p.add_argument("--data", type=Path, default=None, help="default: a fresh sample dataset")
    p.add_argument("--synthetic", action="store_true", help="model figure only, no video data")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    # one measurement (internal)
    p.add_argument("--_one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--workers-one", dest="workers_one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--threads-one", dest="threads_one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--precision-one", dest="precision_one", help=argparse.SUPPRESS)
    p.add_argument(
        "--channels-last-one", dest="cl_one", action="store_true", help=argparse.SUPPRESS
    )
    p.add_argument("--compile-one", dest="compile_one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._one:
        args.workers, args.threads = args.workers_one, args.threads_one
        args.precision, args.channels_last = args.precision_one, args.cl_one
        args.compile = args.compile_one
        print(json.dumps(_one(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.data is None and not args.synthetic:
            from actionkit.datasets.sample import make_sample_dataset

            args.data = make_sample_dataset(Path(tmp) / "sample", videos_per_class=8)
        rows = [_run(setting, args) for setting in _settings(args)]
    import torch

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, batch {args.batch}")  # fmt: skip
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
