"""Does the default recipe learn? Held-out accuracy and time of ``train_and_evaluate`` with each
model's recipe against the settings that were the default before (SGD 1e-3, backbone x0.1).

    python tests/_real_set.py data/real_set            # 36 real-video clips, 3 classes
    python benchmarks/bench_recipe.py data/real_set --epochs 3
    actionkit sample-data data/sample
    python benchmarks/bench_recipe.py data/sample --epochs 3 --crop 96 --no-flip

Each setting trains from the same seed on the same seeded split (25 % held out per class) and is
evaluated on the held-out videos with 2 clips each.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

from actionkit.recipe import IG65M_RECIPE
from actionkit.train.config import TrainConfig
from actionkit.train.workflow import build_model, load_dataset, train_and_evaluate

BEFORE = IG65M_RECIPE.settings("cpu")


def run(
    data: str, model_name: str, epochs: int, crop: int | None, settings: dict, flip: bool = True
) -> dict:
    classes = load_dataset(data, train=False).classes
    model = build_model(model_name, len(classes), crop_size=crop)
    config = TrainConfig(epochs=epochs, workers=2, **settings)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = train_and_evaluate(
            model,
            data,
            out,
            val_fraction=0.25,
            config=config,
            eval_clips=2,
            flip=flip,
            progress=False,
        )
    history = result.history
    return {
        "settings": "before (SGD 1e-3, backbone x0.1)"
        if settings is BEFORE
        else f"recipe {settings}",
        "top1": round(result.report.top1, 3),
        "train_loss_last": round(history[-1]["train_loss"], 3),
        "val_top1_per_epoch": [round(r.get("val_top1", float("nan")), 3) for r in history],
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--model", default="tsm_efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--crop", type=int, default=None, help="crop side (default: the model's)")
    parser.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        help="no flips (the sample set: left and right are classes)",
    )
    parser.add_argument("--only", choices=("recipe", "before"), default=None)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="override recipe settings (numbers), e.g. --set lr=4e-3",
    )
    args = parser.parse_args()
    changes = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    print(json.dumps({"machine": platform.processor() or platform.machine(), **vars(args)}))
    for name, settings in (("recipe", changes), ("before", BEFORE)):
        if args.only in (None, name):
            print(
                json.dumps(run(args.data, args.model, args.epochs, args.crop, settings, args.flip))
            )


if __name__ == "__main__":
    main()
