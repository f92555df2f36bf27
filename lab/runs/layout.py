"""The run file's layout (NeXus-friendly, so a generic NeXus/HDF5 viewer plots error
against step): what `lab.runs.writer.RunWriter` creates and `lab.runs.reader.RunReader`
reads::

    /                       attrs: default="entry", twinlab_schema, twinlab_version,
                            start_time, end_time ("" until stop), complete, task (name),
                            settings_json, bench_json (with "file": the bench file's absolute
                            path; not in older files), task_json, network_json, extra_json,
                            positions_estimated, codes ("exact", "estimated" or "unknown":
                            `lab.acquire.records.Codes`), codes_note (why unknown, else ""),
                            currents_note (why the currents were not checked, else ""),
                            every scalar setting (p, eta, steps, seed, ...)
                            and, after stop: steps (rows written), initial_error, final_error,
                            scaled_error, message (at most MESSAGE_MAX characters),
                            final_test_error, final_accuracy, warnings (what the run
                            found wrong as it went on, one line each, joined by newlines:
                            `warnings_attr`; "" none; not in older files), resyncs
                            (int: the estimator's tomographies, `RunSummary.resyncs`;
                            only on a run whose codes were estimated; not in older files)
    /entry                  NXentry, default="steps"
    /entry/steps            NXdata, signal="error", axes=["step"]; one row per training step:
                            one dataset per column of `lab.runs.schema` (names, dtypes,
                            units, row shapes from RunInfo; update_mask and direction only
                            if RunInfo.has_updates, positions_sd only if
                            RunInfo.has_uncertainty; positions has attrs estimated, codes;
                            with estimated codes update_mask has attrs estimated, meaning
                            = `ESTIMATED_MASK`: codes moved, not edges enabled)
    /entry/test             NXdata, signal="error", axes=["step"]; one row per test evaluation
        step (m,) int64, time (m,) float64 s, error (m,) float64 V^2,
        accuracy (m,) float64, v_free (m, n_test, n_outputs) float64 V

    /entry/task             the task's arrays of more than TASK_INLINE numbers (training
                            and test inputs, targets, labels), each written once as a gzip-
                            compressed dataset named after its task field; ``task_json``
                            holds the other fields (schema 2; schema 1 kept them all in JSON)

Every row dataset is chunked with an unlimited first axis. The writer runs in SWMR mode
and flushes whole blocks of rows, so a live reader (``RunReader(path, swmr=True)``) can
follow the run and a run killed mid-way keeps every flushed row. Datasets are extended one
by one, so the number of rows is the *minimum* length over a group's datasets.

Pure Python and numpy (no h5py): the storage estimates (`lab.runs.storage`) use it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lab.acquire.records import RunInfo

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_ROWS",
    "COMPRESSION",
    "JSON_ATTRS",
    "LIBVER",
    "MESSAGE_MAX",
    "SCHEMA_VERSION",
    "TASK_INLINE",
    "TEST_CHUNK_ROWS",
    "chunking_of_tests",
    "codes_of",
    "task_datasets",
    "to_json",
    "warnings_attr",
    "warnings_of",
]

SCHEMA_VERSION = 3
"""Version of the file layout written here; readers refuse newer files and read 1 to 3
(2 moved the task's arrays from ``task_json`` to compressed datasets in /entry/task; 3
added the ``codes``/``codes_note`` attributes and the ``positions_sd`` column of
estimated runs; for older files `codes_of` infers ``codes``)."""

# SWMR needs the HDF5 1.10 file format; a 1.10 lower bound keeps files readable by viewers
# built on HDF5 1.10-1.14 (for this layout the bytes equal those of libver="latest").
LIBVER = ("v110", "latest")

COMPRESSION: str | None = None
"""Default filter for row datasets (``None``, ``"lzf"`` or ``"gzip"``); see bench/bench_hdf5.py."""

CHUNK_ROWS = 4096
"""Default rows per chunk (and per write block) of the step datasets."""

TEST_CHUNK_ROWS = 256
"""Most rows per chunk of the test datasets (fewer when a row is big: CHUNK_BYTES)."""

CHUNK_BYTES = 1 << 20
"""Most bytes per chunk of a test ``v_free`` dataset (a row is n_test x n_outputs doubles)."""

TASK_INLINE = 256
"""Task fields that are numeric arrays of more numbers than this go to /entry/task."""

MESSAGE_MAX = 1000
"""Most characters of the ``message`` attribute: a longer one (e.g. a safe-state report of
many instruments) is cut to this with a note saying so, the whole logged at debug level."""

JSON_ATTRS = ("settings_json", "bench_json", "task_json", "network_json", "extra_json")


#: What an estimated ``update_mask`` says (its dataset's ``meaning`` attribute): the
#: estimator sees codes, not oscillators
ESTIMATED_MASK = ("moved: the code changed at this pulse (estimated from node voltages); an "
                  "edge held at a rail in its direction (code 0 and -1, or the top code and "
                  "+1) stays whether enabled or not and reads False")

def task_datasets(task: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The task fields stored as datasets: numeric arrays of more than TASK_INLINE numbers."""
    out: dict[str, np.ndarray] = {}
    for key, value in task.items():
        if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
            continue
        try:
            a = np.asarray(value)
        except ValueError:  # ragged
            continue
        if a.size > TASK_INLINE and a.dtype.kind in "biuf":
            out[str(key)] = a
    return out


def codes_of(attrs: Mapping[str, Any], step_columns: Iterable[str]) -> str:
    """Where a run file's codes come from (`lab.acquire.records.Codes`): its ``codes``
    attribute (schema 3) or, for older files, inferred: not ``positions_estimated`` ->
    "exact"; estimated with updates recorded -> "estimated"; else "unknown" (a bench
    without a probe recorded -1)."""
    codes = attrs.get("codes")
    if codes in ("exact", "estimated", "unknown"):
        return str(codes)
    if not attrs.get("positions_estimated", False):
        return "exact"
    return "estimated" if "update_mask" in set(step_columns) else "unknown"


def chunking_of_tests(info: RunInfo, chunk_rows: int) -> tuple[int, tuple[int, int, int]]:
    """(rows per chunk of the test datasets, chunk shape of the test ``v_free``)."""
    nt, no = int(info.n_test), int(info.n_outputs)
    row = 8 * max(nt, 1) * max(no, 1)
    rows = max(1, min(chunk_rows, TEST_CHUNK_ROWS, CHUNK_BYTES // row))
    inner = max(1, min(max(nt, 1), CHUNK_BYTES // (8 * max(no, 1))))
    return rows, (rows, inner, max(no, 1))


def _json_default(obj: Any) -> Any:
    """JSON fallback: numpy values and arrays, paths, sets; anything else as ``str``."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    return str(obj)


def to_json(obj: Any) -> str:
    """``obj`` as the JSON text of a ``*_json`` attribute (`_json_default` for the rest)."""
    return json.dumps(obj, default=_json_default, sort_keys=False)


def warnings_attr(lines: Iterable[str]) -> str:
    """The ``warnings`` attribute of ``lines`` (each one line): joined by newlines."""
    return "\n".join(" ".join(str(line).split()) for line in lines)


def warnings_of(attrs: Mapping[str, Any]) -> list[str]:
    """The run's warning lines from its ``warnings`` attribute ([] when none or absent)."""
    return [line for line in str(attrs.get("warnings", "")).split("\n") if line]
