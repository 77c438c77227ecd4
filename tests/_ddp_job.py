"""A 2-process DDP run on CPU (gloo), started the two ways a user starts one.

python -m torch.distributed.run --nproc_per_node 2 tests/_ddp_job.py DATA VAL OUT
python tests/_ddp_job.py --notebook-launcher PORT DATA VAL OUT   (as from a notebook cell)
"""

import json
import sys
from pathlib import Path

import torch
from _tiny import SGD, tiny_model, weights_digest

from actionkit.data import VideoDataset
from actionkit.train.learner import Learner


def run(data: str, val_data: str, out: str) -> None:
    """One rank: train 2 epochs, evaluate, write what the test compares."""
    out = Path(out)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the new head's initial weights
    model = tiny_model()
    train = VideoDataset.from_folder(data, spec=model.input_spec, crop="random")
    val = VideoDataset.from_folder(val_data, spec=model.input_spec, train=False)
    learner = Learner(
        model, train, val, out_dir=out, progress=False, epochs=2, batch_size=2, workers=0,
        lr=0.05, **SGD,
    )  # fmt: skip
    learner.fit()
    report = learner.evaluate(num_clips=2, batch_size=2)
    acc = learner.accelerator
    result = {
        "world_size": acc.num_processes,
        "digest": weights_digest(acc.unwrap_model(learner.model).state_dict()),
        "num_videos": report.num_videos,
        "paths": [p["path"] for p in report.predictions],
        "preds": [p["pred"] for p in report.predictions],
        "history_rows": len(learner.history),
    }
    (out / f"rank{acc.process_index}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1] == "--notebook-launcher":
        from accelerate import notebook_launcher

        port, *paths = sys.argv[2:]
        notebook_launcher(run, args=tuple(paths), num_processes=2, use_port=port)
    else:
        run(*sys.argv[1:])
