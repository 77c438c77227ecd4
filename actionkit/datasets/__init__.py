"""Ready-made datasets: the generated sample set (:mod:`~actionkit.datasets.sample`); the room
for HMDB51 and UCF101 download helpers."""
