"""``python -m actionkit.cli``: the ``actionkit`` command (:func:`actionkit.cli.console_main`)."""

from actionkit.cli import console_main

if __name__ == "__main__":
    console_main()
