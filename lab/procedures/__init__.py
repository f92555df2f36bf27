"""Procedures run on a bench besides training: the bias calibration sweep."""
