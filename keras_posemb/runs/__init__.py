"""The run directory and what reads and writes it: files the package owns,
checkpoints, predictions from a finished run."""
