"""`lab.runs.schema.columns`: the one way records become step columns, whatever arrays
the records hold (its fast path joins the rows' bytes; the values must not change)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lab.runs.schema import StepSchema, columns

CHILD = Path(__file__).with_name("_run_writer_child.py")
_spec = importlib.util.spec_from_file_location("_run_writer_child", CHILD)
assert _spec is not None and _spec.loader is not None
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)
make_info, make_record = child.make_info, child.make_record

SCHEMA = StepSchema.of(make_info(True))


def _reference(rows: list, name: str) -> np.ndarray:
    """Column ``name`` as ``np.array`` of each row cast to the column's dtype."""
    c = SCHEMA.spec(name)
    return np.array([np.asarray(getattr(r, name)).astype(c.dtype) for r in rows]) \
        .reshape(len(rows), *c.shape)


def _odd_rows(n: int) -> list:
    """Records whose arrays vary as a producer's might: the dtype changing between rows
    with the same item size (float64 / int64 codes), strided views, byte-swapped and
    Python lists."""
    rows = [make_record(i) for i in range(n)]
    for i, r in enumerate(rows):
        if i % 3 == 1:
            r.positions = r.positions.astype(np.float64) + 0.0  # same itemsize as int64
        elif i % 3 == 2:
            r.positions = r.positions.astype(np.int64)
        if i % 4 == 1:
            r.v_free = np.repeat(r.v_free, 2)[::2]  # not contiguous
        if i % 5 == 2:
            r.inputs = r.inputs.astype(">f8")  # big-endian
        if i % 7 == 3:
            r.v_desired = list(r.v_desired)
    return rows


@pytest.mark.parametrize("n", [1, 2, 50])
def test_columns_of_mixed_arrays_are_the_rows_cast(n: int) -> None:
    rows = _odd_rows(n)
    got = columns(rows, SCHEMA)
    assert list(got) == list(SCHEMA.names)
    for name, a in got.items():
        want = _reference(rows, name)
        assert a.dtype == SCHEMA.spec(name).dtype and a.shape == want.shape, name
        np.testing.assert_array_equal(a, want, err_msg=name)


def test_columns_of_plain_rows_are_writeable_arrays_of_the_values() -> None:
    rows = [make_record(i) for i in range(40)]
    got = columns(rows, SCHEMA)
    for name, a in got.items():
        np.testing.assert_array_equal(a, _reference(rows, name), err_msg=name)
        a[...] = 0  # a fresh array the caller owns
    assert columns([], SCHEMA)["positions"].shape == (0, 16)


def test_a_later_row_of_another_size_raises() -> None:
    rows = [make_record(i) for i in range(5)]
    rows[3].positions = np.zeros(15, np.int16)
    with pytest.raises(ValueError):
        columns(rows, SCHEMA)
    rows[3].positions = np.zeros(17, np.float64)
    with pytest.raises(ValueError):
        columns(rows, SCHEMA, ["positions"])
