"""Ready-made datasets: the generated sample set (:mod:`~actionkit.datasets.sample`), generated
untrimmed videos (:mod:`~actionkit.datasets.untrimmed`), and HMDB51 and UCF101 downloaded,
extracted and laid out for their official splits (:mod:`~actionkit.datasets.hmdb51`,
:mod:`~actionkit.datasets.ucf101`)."""
