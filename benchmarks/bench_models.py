"""Per-clip latency of the video models (eager, channels_last, torch.compile), size and cost.

    python benchmarks/bench_models.py                    # 5 model families, CPU, batch 1 and 8
    python benchmarks/bench_models.py --models r2plus1d_18 --modes eager compile --repeat 3
    python benchmarks/bench_models.py --flops-only --models r2plus1d_34_8_ig65m --crop 112 128
    # GPU: inference, then training steps, of R(2+1)D-34 with 8 and 32 frames
    python benchmarks/bench_models.py --device cuda --models r2plus1d_34_8_ig65m \\
        r2plus1d_34_32_ig65m --dtype fp32 bf16 fp16 --batch 1 8 [--train]

For each model: parameters and GFLOPs per clip (``torch.utils.flop_counter``, forward pass; one
multiply-add counts as 2 FLOPs, so halve the figure to compare with papers that count
multiply-adds), then milliseconds per clip for each batch size, dtype and mode:

* ``eager``: the model as it is (contiguous NCTHW / NCHW tensors);
* ``channels_last``: Conv3d weights and clips in ``torch.channels_last_3d``; for the 2D (TSN/TSM)
  models, Conv2d weights in ``torch.channels_last`` and frames stored H×W×C (as decoded);
* ``compile``: ``torch.compile(model)`` (inductor, static shapes). Its first call per batch size
  is timed apart: "compile s" is that call minus one steady call, with inductor's caches off
  (``--warm-cache`` keeps them, as a second session on the same machine would). A failure
  (e.g. no C compiler for inductor on CPU) is reported in the table instead of stopping the run.

``--dtype bf16 fp16`` run under ``torch.autocast`` (fp16 training with a GradScaler); ``--train``
times a training step (forward, cross-entropy, backward, SGD with momentum) instead of inference.
The modes are timed in interleaved rounds (one call of each mode per round) so that load from
other processes hits them alike; the median (and best) round is reported, and ``× eager`` is the
ratio of the medians to eager's in the same rounds. Random weights: speed does not depend on
them. Prints a Markdown table; ``--json`` also writes the raw figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch._inductor.config as inductor_config
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from actionkit.models import create_model
from actionkit.models.base import VideoClassifier
from actionkit.spec import InputSpec

MODES = ("eager", "channels_last", "compile")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULT_MODELS = (
    "r2plus1d_18",
    "r2plus1d_34_8_ig65m",
    "r3d_18",
    "tsm_efficientnet_lite0",
    "tsn_resnet50",
)


# -- inputs and formats ----------------------------------------------------------------------------
def input_shape(spec: InputSpec) -> tuple[int, ...]:
    """One sample's shape: ``C×T×H×W`` (3D models) or ``K×C×H×W`` (TSN/TSM)."""
    size = spec.crop_size
    if spec.layout == "KCHW":
        return (spec.num_segments * spec.clip_len, 3, size, size)
    return (3, spec.clip_len, size, size)


def describe(spec: InputSpec) -> str:
    if spec.layout == "KCHW":
        return f"{spec.num_segments} seg × {spec.crop_size}²"
    return f"{spec.clip_len}×{spec.crop_size}²"


def make_input(spec: InputSpec, batch: int, device: torch.device, channels_last: bool):
    """A random batch; ``channels_last`` stores it channels-last (per frame for TSN/TSM)."""
    shape = (batch, *input_shape(spec))
    if not channels_last:
        return torch.randn(shape, device=device)
    if spec.layout == "KCHW":  # B×K×H×W×C memory seen as B×K×C×H×W: frames flatten to NHWC
        b, k, c, h, w = shape
        return torch.randn(b, k, h, w, c, device=device).permute(0, 1, 4, 2, 3)
    return torch.randn(shape, device=device).contiguous(memory_format=torch.channels_last_3d)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Conv3d weights to channels_last_3d and Conv2d weights to channels_last, in place."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
        elif isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)
    return model


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass (2 per multiply-add)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops()


# -- one timed call --------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(
    net: Callable, model: nn.Module, device: torch.device, dtype: torch.dtype | None, train: bool
) -> Callable[[torch.Tensor], None]:
    """One inference call, or one training step (forward, loss, backward, SGD), on a batch."""

    def autocast():
        if dtype is None:
            return nullcontext()
        return torch.autocast(device.type, dtype=dtype)

    if not train:

        def infer(x: torch.Tensor) -> None:
            with torch.inference_mode(), autocast():
                net(x)

        return infer

    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def train_step(x: torch.Tensor) -> None:
        labels = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        with autocast():
            loss = F.cross_entropy(net(x).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return train_step


def timed(step: Callable[[torch.Tensor], None], x: torch.Tensor, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    step(x)
    _sync(device)
    return time.perf_counter() - start


def _reason(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = f"{type(err).__name__}: {lines[0] if lines else ''}"
    return text[:160].replace("|", "/")


# -- one model -------------------------------------------------------------------------------------
def build_nets(model: VideoClassifier, modes: list[str]) -> dict[str, nn.Module]:
    """The network each mode calls (compile: the eager model wrapped, weights shared)."""
    nets = {}
    for mode in modes:
        if mode == "eager":
            nets[mode] = model
        elif mode == "channels_last":
            nets[mode] = to_channels_last(copy.deepcopy(model))
        else:
            nets[mode] = torch.compile(model, dynamic=False)
    return nets


def bench_cell(model, nets, args, device, batch: int, dtype_name: str) -> list[dict]:
    """All modes at one batch size and dtype, timed in interleaved rounds."""
    spec, dtype = model.input_spec, DTYPES[dtype_name]
    steps, inputs, first, errors, peak = {}, {}, {}, {}, {}
    for mode, net in nets.items():
        target = model if net is model or mode == "compile" else net
        steps[mode] = make_step(net, target, device, dtype, args.train)
        inputs[mode] = make_input(spec, batch, device, channels_last=mode == "channels_last")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            first[mode] = timed(steps[mode], inputs[mode], device)
            for _ in range(args.warmup - 1):
                timed(steps[mode], inputs[mode], device)
        except Exception as err:  # compile failures (no C compiler, inductor bugs) are reported
            errors[mode] = _reason(err)
            print(f"  {mode} failed: {errors[mode]}", file=sys.stderr, flush=True)
            continue
        if device.type == "cuda":
            peak[mode] = torch.cuda.max_memory_allocated(device) / 2**20

    alive = [m for m in nets if m not in errors]
    times: dict[str, list[float]] = {m: [] for m in alive}
    start = time.perf_counter()
    for done in range(args.repeat):
        if done >= 2 and args.max_seconds and time.perf_counter() - start > args.max_seconds:
            break
        for mode in alive:
            times[mode].append(timed(steps[mode], inputs[mode], device))

    rows = []
    for mode in nets:
        row = {"mode": mode, "batch": batch, "dtype": dtype_name, "error": errors.get(mode)}
        if times.get(mode):
            median = statistics.median(times[mode])
            row |= {
                "ms_per_clip": median * 1000 / batch,
                "best_ms_per_clip": min(times[mode]) * 1000 / batch,
                "clips_per_s": batch / median,
                "runs": len(times[mode]),
                "times_s": times[mode],
                "first_call_s": first[mode],
                "compile_s": first[mode] - median if mode == "compile" else None,
                "peak_mib": peak.get(mode),
            }
        rows.append(row)
    if times.get("eager"):
        eager = statistics.median(times["eager"])
        for row in rows:
            if "ms_per_clip" in row:
                row["x_eager"] = eager / (row["ms_per_clip"] * batch / 1000)
    for row in rows:
        figure = f"{row['ms_per_clip']:.1f} ms/clip" if "ms_per_clip" in row else row["error"]
        print(f"  {model.arch} {dtype_name} {row['mode']} batch {batch}: {figure}", flush=True)
    return rows


def load_model(name: str, args, device: torch.device) -> VideoClassifier:
    model = create_model(name, pretrained=False).to(device)
    if args.crop:
        model.input_spec = model.input_spec.replace(crop_size=args.crop[0], resize=args.crop[0])
    return model.train(args.train)


def bench_model(name: str, args, device: torch.device) -> list[dict]:
    model = load_model(name, args, device)
    spec = model.input_spec
    info = {
        "model": name,
        "input": describe(spec),
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflops": count_flops(model, make_input(spec, 1, device, False)) / 1e9,
    }
    torch._dynamo.reset()  # a fresh compile cache for every model
    nets = build_nets(model, args.modes)
    rows = []
    for batch in args.batch:
        for dtype_name in args.dtype:
            rows += [info | row for row in bench_cell(model, nets, args, device, batch, dtype_name)]
    return rows


def flops_table(args, device: torch.device) -> None:
    print("| model | input | params (M) | GFLOPs/clip | G multiply-adds/clip |")
    print("|---|---|---:|---:|---:|")
    for name in args.models:
        model = create_model(name, pretrained=False).to(device)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        for crop in args.crop or [model.input_spec.crop_size]:
            spec = model.input_spec.replace(crop_size=crop, resize=crop)
            flops = count_flops(model, make_input(spec, 1, device, False)) / 1e9
            print(f"| {name} | {describe(spec)} | {params:.2f} | {flops:.1f} | {flops / 2:.2f} |")


# -- report ----------------------------------------------------------------------------------------
def machine(device: torch.device) -> str:
    if device.type == "cuda":
        tf32 = torch.backends.cudnn.allow_tf32
        return f"{torch.cuda.get_device_name(device)} (cuDNN TF32 for fp32 convs: {tf32})"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {torch.get_num_threads()} torch threads"


def print_table(rows: list[dict], args, device: torch.device) -> None:
    task = "training step (fwd + bwd + SGD)" if args.train else "inference"
    print(f"\n{task}; {machine(device)}; torch {torch.__version__}")
    print("command: python " + shlex.join(sys.argv))
    print("\n| model | input | params (M) | GFLOPs/clip | dtype | mode | batch | ms/clip | best "
          "| clips/s | × eager | runs | compile s | peak MiB |")  # fmt: skip
    print("|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        head = f"| {r['model']} | {r['input']} | {r['params_m']:.2f} | {r['gflops']:.1f} "
        head += f"| {r['dtype']} | {r['mode']} | {r['batch']} "
        if r["error"]:
            print(head + f"| failed: {r['error']} | | | | | | |")
            continue
        compile_s = f"{r['compile_s']:.1f}" if r["compile_s"] is not None else ""
        peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None else ""
        ratio = f"{r['x_eager']:.2f}" if "x_eager" in r else ""
        print(
            head
            + f"| {r['ms_per_clip']:.1f} | {r['best_ms_per_clip']:.1f} | {r['clips_per_s']:.2f} "
            f"| {ratio} | {r['runs']} "
            f"| {compile_s} | {peak} |"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--dtype", nargs="+", default=["fp32"], choices=list(DTYPES))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--train", action="store_true", help="time training steps")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (at most)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (>= 1)")
    parser.add_argument(
        "--max-seconds", type=float, default=0, help="stop a cell's rounds after this (min 2)"
    )
    parser.add_argument(
        "--warm-cache", action="store_true", help="let inductor reuse its on-disk caches"
    )
    parser.add_argument("--crop", nargs="+", type=int, help="square input size(s) instead")
    parser.add_argument("--flops-only", action="store_true", help="only parameters and GFLOPs")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 1:
        parser.error(f"--repeat {args.repeat} and --warmup {args.warmup} must be at least 1")
    if args.crop and len(args.crop) > 1 and not args.flops_only:
        parser.error(f"--crop {args.crop}: several sizes only with --flops-only")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if not args.warm_cache:  # "compile s" is then a first compile, as on a fresh machine
        inductor_config.force_disable_caches = True
    torch.manual_seed(0)
    if args.flops_only:
        flops_table(args, device)
        return
    rows = []
    for name in args.models:
        rows += bench_model(name, args, device)
    print_table(rows, args, device)
    if args.json:
        payload = {"device": machine(device), "torch": torch.__version__, "rows": rows}
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
