"""Estimating the board from node voltages: digipot codes, updates, bench support.

Headless (numpy, scipy, numba), over the HAL only; never reads an emulator's truth.
`tomography` resyncs every code from boundary patterns with the clock idle, `tracking`
follows each pulse's updates, `probe.EstimatedProbe` is the `lab.hal.ResistanceProbe`
the trainer uses when a bench has no exact probe, and `requirements` says what a bench
must wire for it.
"""
