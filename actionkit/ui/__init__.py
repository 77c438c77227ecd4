"""What a person looks at: figures now; notebook widgets (live views) have their room here.

Widgets follow training through :class:`actionkit.train.callbacks.Callback` and inference through
its results; nothing below this layer knows of them.
"""
