"""The live engine on a video file played at its own frame rate (as a camera delivers frames):
predictions per second, end-to-end latency (median and 95th percentile) and dropped frames.

    python benchmarks/bench_live.py                           # the demo model, 3 sizes, eager
    python benchmarks/bench_live.py --runners eager channels_last onnx --sizes 112 224
    python benchmarks/bench_live.py --models r2plus1d_34_8_ig65m --sizes 112 --device cuda

Latency is from the capture of the newest frame in the window to the result; on top of it the
window spans its own past (``span``: 8 segments 4 frames apart at 30 fps is about 0.93 s).
Weights are random (``pretrained=False``): speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from actionkit.inference.live import LivePredictor
from actionkit.models import create_model

HERE = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = HERE.parent / "shared/data/videos/h264_340x256_30fps.mp4"


def _model(name: str, size: int, runner: str, device: str):
    model = create_model(name, pretrained=False, num_classes=10)
    model.input_spec = model.input_spec.replace(crop_size=size, resize=round(size * 8 / 7))
    model.classes = [f"c{i}" for i in range(10)]
    model = model.eval().to(device)
    if runner == "channels_last":
        fmt = torch.channels_last if model.input_spec.uses_segments else torch.channels_last_3d
        model = model.to(memory_format=fmt)
    return model


def run(video: Path, name: str, size: int, runner: str, device: str, seconds: float) -> dict:
    model = _model(name, size, runner, device)
    runtime = "onnx" if runner == "onnx" else "torch"
    live = LivePredictor(model, video, device=device, runtime=runtime)
    live.start()
    live.wait(seconds)
    live.stop()
    stats = live.stats
    span = (model.input_spec.frames_per_sample - 1) * live.stride / 30
    return {
        "model": name, "size": size, "runner": runner, "device": device,
        "predictions_per_s": round(stats.predictions_per_second, 2),
        "latency_median_ms": round(stats.latency(0.5) * 1000),
        "latency_p95_ms": round(stats.latency(0.95) * 1000),
        "window_span_ms": round(span * 1000),
        "frames": stats.frames_captured, "dropped": stats.frames_dropped,
        "capture_fps": round(stats.capture_fps, 1),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    p.add_argument("--models", nargs="+", default=["tsm_efficientnet_lite0"])
    p.add_argument("--sizes", type=int, nargs="+", default=[112, 160, 224])
    p.add_argument("--runners", nargs="+", default=["eager"],
                   choices=["eager", "channels_last", "onnx"])  # fmt: skip
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=30.0, help="at most this long per setting")
    args = p.parse_args()
    print(f"# {platform.machine()}, {torch.get_num_threads()} threads, {args.video.name}")
    print("| model | size | runner | predictions/s | latency median ms | p95 ms | window span ms "
          "| frames | dropped |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        for size in args.sizes:
            for runner in args.runners:
                r = run(args.video, name, size, runner, args.device, args.seconds)
                print(f"| {name} | {size} | {runner} | {r['predictions_per_s']} | "
                      f"{r['latency_median_ms']} | {r['latency_p95_ms']} | {r['window_span_ms']} | "
                      f"{r['frames']} | {r['dropped']} |", flush=True)  # fmt: skip
                print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
