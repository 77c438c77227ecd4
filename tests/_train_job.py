"""A training run in its own process (for the kill -9 / resume test).

python tests/_train_job.py DATA OUT EPOCHS [--resume]
"""

import sys

import torch
from _tiny import SGD, tiny_model

from actionkit.data import VideoDataset
from actionkit.train.learner import Learner

if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the new head's initial weights
    data, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = tiny_model()
    dataset = VideoDataset.from_folder(data, spec=model.input_spec, crop="random")
    train, val = dataset.split(val_fraction=0.25, seed=0)
    learner = Learner(
        model, train, val, out_dir=out, progress=False, epochs=epochs, batch_size=2,
        workers=0, lr=0.05, **SGD,
    )  # fmt: skip
    learner.fit(resume="--resume" in sys.argv)
