"""``python -m automl``: the same command line as ``automl``."""

from automl.cli import main

main(prog_name="automl")
