"""Latency of a model in eager PyTorch, exported to ONNX (onnxruntime) and to TorchScript.

    python benchmarks/bench_export.py                                # TSM-EffNet-Lite0, 8×224
    python benchmarks/bench_export.py --models r2plus1d_18 --threads 4 --repeat 20

Each model (random weights: speed does not depend on them) is exported with
:func:`actionkit.models.export.export_model` and opened with ``load_exported``, as a user would;
then eager, ONNX Runtime and TorchScript are timed in interleaved rounds (one call of each per
round, so load from other processes hits them alike) on one batch, under
``torch.inference_mode``, with ``--threads`` torch threads (ONNX Runtime gets as many intra-op
threads, not spinning; OpenMP waits are passive, as in the ``actionkit`` command). Prints a
Markdown table of median (and best) milliseconds per call, the ratio to eager's median, and
the largest logit difference from eager.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from actionkit.utils.threads import set_passive_omp

set_passive_omp()  # as the actionkit command does: sleeping OpenMP waits (before torch starts)

import torch  # noqa: E402

from actionkit.models import create_model  # noqa: E402
from actionkit.models.export import example_input, export_model, load_exported  # noqa: E402


def bench(name: str, segments: int, crop: int, batch: int, repeat: int, folder: Path) -> list[str]:
    kwargs = {"num_segments": segments} if name.startswith(("tsm_", "tsn_")) else {}
    model = create_model(name, pretrained=False, **kwargs).eval()
    model.input_spec = model.input_spec.replace(crop_size=crop, resize=max(crop, 256))
    if not model.input_spec.uses_segments:
        model.input_spec = model.input_spec.replace(clip_len=segments)
    runners = {"eager": model}
    for fmt in ("onnx", "torchscript"):
        started = time.perf_counter()
        path = export_model(model, folder / f"{name}.{fmt}", format=fmt)
        print(f"{name}: {fmt} export {time.perf_counter() - started:.1f} s", flush=True)
        runners[fmt] = load_exported(path)
    x = example_input(model.input_spec, batch_size=batch)
    times: dict[str, list[float]] = {key: [] for key in runners}
    with torch.inference_mode():
        reference = model(x)
        diffs = {key: (run(x) - reference).abs().max().item() for key, run in runners.items()}
        for run in runners.values():  # warm-up
            run(x)
        for _ in range(repeat):
            for key, run in runners.items():
                started = time.perf_counter()
                run(x)
                times[key].append((time.perf_counter() - started) * 1e3)
    eager = statistics.median(times["eager"])
    rows = []
    for key, values in times.items():
        median = statistics.median(values)
        rows.append(
            f"| {name} | {key} | {median:.1f} | {min(values):.1f} | {median / eager:.2f} "
            f"| {diffs[key]:.2g} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tsm_efficientnet_lite0"])
    parser.add_argument("--segments", type=int, default=8, help="segments, or frames (3D)")
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, "
        f"{args.segments} segments/frames at {args.crop} px, median of {args.repeat}\n"
    )
    lines = [
        "| model | runtime | median ms | best ms | × eager | max abs diff |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            lines += bench(name, args.segments, args.crop, args.batch, args.repeat, Path(folder))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
