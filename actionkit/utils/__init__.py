"""Infrastructure that knows nothing of videos or models.

* :mod:`~actionkit.utils.atomic`: crash-safe writes (temporary file, then rename);
* :mod:`~actionkit.utils.locks`: a lock file that processes take turns on;
* :mod:`~actionkit.utils.download`: fetch a URL into a cache folder, resumed and hash-checked,
  with an error that says where to put the file by hand when offline;
* :mod:`~actionkit.utils.pool`: a process pool in which one crash fails one job.
"""
