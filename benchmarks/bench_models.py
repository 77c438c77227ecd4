"""Per-clip inference latency of the R(2+1)D models, and their size and cost.

    python benchmarks/bench_models.py                       # r2plus1d_18 and r2plus1d_34_8, CPU
    python benchmarks/bench_models.py --device cuda --batch 1 8 32
    python benchmarks/bench_models.py --models r2plus1d_18 --modes eager channels_last --repeat 3

For each model: parameters and GFLOPs per clip (``torch.utils.flop_counter``; one multiply-add
counts as 2 FLOPs, so halve the figure to compare with papers that count multiply-adds), then
milliseconds per clip at each batch size for ``eager``, ``channels_last`` (channels_last_3d memory
format) and ``compile`` (``torch.compile``, compile time reported apart). Random weights: speed
does not depend on them. Prints a Markdown table; ``--json`` also writes the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from actionkit.models import create_model

MODES = ("eager", "channels_last", "compile")


def count_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_per_clip(fn, x, device, repeat: int, warmup: int) -> float:
    """Median milliseconds per clip over ``repeat`` timed runs."""
    with torch.inference_mode():
        for _ in range(warmup):
            fn(x)
        _sync(device)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn(x)
            _sync(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000 / x.shape[0]


def bench_model(name: str, args, device: torch.device) -> list[dict]:
    model = create_model(name, pretrained=False).eval().to(device)
    spec = model.input_spec
    shape = (3, spec.clip_len, spec.crop_size, spec.crop_size)
    params = sum(p.numel() for p in model.parameters())
    gflops = count_flops(model, torch.randn(1, *shape, device=device)) / 1e9
    rows = []
    for mode in args.modes:
        net, fmt, compile_s = model, torch.contiguous_format, None
        if mode == "channels_last":
            fmt = torch.channels_last_3d
            net = model.to(memory_format=fmt)
        elif mode == "compile":
            net = torch.compile(model)
        for batch in args.batch:
            x = torch.randn(batch, *shape, device=device).contiguous(memory_format=fmt)
            if mode == "compile" and compile_s is None:
                start = time.perf_counter()
                with torch.inference_mode():
                    net(x)
                _sync(device)
                compile_s = time.perf_counter() - start
            ms = time_per_clip(net, x, device, args.repeat, args.warmup)
            rows.append(
                {
                    "model": name,
                    "input": "x".join(map(str, shape)),
                    "params_m": params / 1e6,
                    "gflops": gflops,
                    "mode": mode,
                    "batch": batch,
                    "ms_per_clip": ms,
                    "clips_per_s": 1000 / ms,
                    "compile_s": compile_s if mode == "compile" else None,
                }
            )
            print(f"  {name} {mode} batch {batch}: {ms:.1f} ms/clip", flush=True)
        model = model.to(memory_format=torch.contiguous_format)
    return rows


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {torch.get_num_threads()} threads ({os.cpu_count()} logical CPUs)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["r2plus1d_18", "r2plus1d_34_8_ig65m"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    for name in args.models:
        rows += bench_model(name, args, device)

    print(f"\nDevice: {machine(device)}; torch {torch.__version__}\n")
    print("| model | input | params (M) | GFLOPs/clip | mode | batch | ms/clip | clips/s |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['input']} | {r['params_m']:.2f} | {r['gflops']:.1f} | "
            f"{r['mode']} | {r['batch']} | {r['ms_per_clip']:.1f} | {r['clips_per_s']:.1f} |"
        )
    compiled = {r["model"]: r["compile_s"] for r in rows if r["compile_s"] is not None}
    for name, seconds in compiled.items():
        print(f"\ntorch.compile of {name}: first call {seconds:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"device": machine(device), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
