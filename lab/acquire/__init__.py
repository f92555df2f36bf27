"""Acquisition: the training loop (`trainer`), its records and observers, settings and the
live training process."""
