"""One rank of a 2-process DDP run on CPU (gloo), started by torchrun in the DDP test.

python -m torch.distributed.run --nproc_per_node 2 tests/_ddp_job.py DATA VAL OUT
"""

import json
import sys
from pathlib import Path

import torch
from _tiny import tiny_model, weights_digest

from actionkit.data import VideoDataset
from actionkit.learner import Learner

if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the new head's initial weights
    data, val_data, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    model = tiny_model()
    train = VideoDataset.from_folder(data, spec=model.input_spec, crop="random")
    val = VideoDataset.from_folder(val_data, spec=model.input_spec, train=False)
    learner = Learner(
        model, train, val, out_dir=out, progress=False, epochs=2, batch_size=2, workers=0,
        lr=0.05,
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
