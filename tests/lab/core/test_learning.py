"""Tests for lab.core.learning (update rules, masks) and lab.hal.calibration (bias -> p).

Rules checked against PHYSICS.md: eq. 1 (clamped outputs), eq. 2 (continuous rule),
eq. 10 (discrete rule with comparator offset, strict >), the board's XOR/XNOR gate form,
128-position digipot codes clipped at both ends, AD5220 rheostat resistance, and the
desynchronisation / mini-batch masks (Bernoulli p or exactly round(p E)).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import binom

from lab.core.learning import (
    N_POSITIONS,
    batch_mask,
    clamped_outputs,
    code_resistance,
    continuous_update,
    discrete_direction,
    step_codes,
    update_mask,
)
from lab.hal.calibration import Calibration, CalibrationError
from lab.procedures.calibration import edge_correlation, measure_p, monotone_fit

# --------------------------------------------------------------------------------------
# 1. discrete_direction (eq. 10): +1 if |dV_C| + sigma > |dV_F| else -1
# --------------------------------------------------------------------------------------

# (dV_C, dV_F, sigma, expected), each worked by hand from eq. 10
DISCRETE_TABLE = [
    (0.2, 0.1, 0.0, +1),  # |C| > |F|
    (0.1, 0.2, 0.0, -1),  # |C| < |F|
    (-0.2, 0.1, 0.0, +1),  # negative clamped drop: only magnitudes count
    (0.1, -0.2, 0.0, -1),  # negative free drop
    (-0.3, -0.5, 0.0, -1),  # both negative: 0.3 < 0.5
    (-0.5, -0.3, 0.0, +1),  # both negative: 0.5 > 0.3
    (0.3, 0.3, 0.01, +1),  # tie in magnitude, positive offset tips it up
    (-0.3, 0.3, 0.01, +1),  # tie in magnitude with opposite signs, offset tips it up
    (0.3, 0.3, 0.0, -1),  # exact tie, sigma = 0: strict > fails -> -1
    (0.3, -0.3, 0.0, -1),  # exact magnitude tie, opposite signs -> -1
    (0.0, 0.0, 0.0, -1),  # no drop at all, no offset -> -1
    (0.0, 0.0, 0.02, +1),  # the offset alone pushes R up (upward drift, PHYSICS.md)
    (0.1, 0.13, 0.05, +1),  # 0.15 > 0.13
    (0.1, 0.16, 0.05, -1),  # 0.15 < 0.16
    (-0.1, 0.12, 0.03, +1),  # 0.13 > 0.12
    (0.1, -0.2, 0.05, -1),  # 0.15 < 0.2
]


@pytest.mark.parametrize(("dvc", "dvf", "sigma", "expected"), DISCRETE_TABLE)
def test_discrete_direction_table(dvc: float, dvf: float, sigma: float, expected: int) -> None:
    out = discrete_direction(np.array([dvc]), np.array([dvf]), sigma)
    assert out.dtype == np.int8
    assert out.tolist() == [expected]


def test_discrete_direction_vector_and_batch_broadcast() -> None:
    dvc = np.array([row[0] for row in DISCRETE_TABLE])
    dvf = np.array([row[1] for row in DISCRETE_TABLE])
    sigma = np.array([row[2] for row in DISCRETE_TABLE])  # per-edge offsets (E,)
    expected = np.array([row[3] for row in DISCRETE_TABLE])
    np.testing.assert_array_equal(discrete_direction(dvc, dvf, sigma), expected)
    # a batch dim (B, E) with sigma (E,): row 0 is the table, the others random drops;
    # each row is checked against eq. 10 written out with numpy.
    rng = np.random.default_rng(0)
    batch_c = rng.normal(0, 0.1, (7, len(sigma)))
    batch_f = rng.normal(0, 0.1, (7, len(sigma)))
    batch_c[0], batch_f[0] = dvc, dvf
    out = discrete_direction(batch_c, batch_f, sigma)
    assert out.shape == (7, len(sigma)) and out.dtype == np.int8
    np.testing.assert_array_equal(out[0], expected)
    for b in range(7):
        ref = np.where(np.abs(batch_c[b]) + sigma > np.abs(batch_f[b]), 1, -1)
        np.testing.assert_array_equal(out[b], ref)


def test_discrete_direction_does_not_modify_inputs() -> None:
    dvc, dvf, sigma = np.array([-0.1, 0.2]), np.array([0.3, -0.1]), np.array([0.01, 0.02])
    copies = dvc.copy(), dvf.copy(), sigma.copy()
    discrete_direction(dvc, dvf, sigma)
    for a, b in zip((dvc, dvf, sigma), copies, strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# 2. the board's gate form of eq. 10, an independent reference for discrete_direction
# --------------------------------------------------------------------------------------


def comparator_direction(
    dv_clamped: np.ndarray, dv_free: np.ndarray, sigma: np.ndarray | float = 0.0
) -> np.ndarray:
    """The board's gate form of eq. 10: XNOR[(dV_C + sigma' > dV_F), (dV_C + dV_F > 0)].

    With sigma = 0 it equals `discrete_direction` except on exact ties. The offset is
    applied to the magnitude comparison with the sign of the common-mode term, which is
    how an input-referred comparator offset enters |dV_C| vs |dV_F|. int8 (..., E).
    """
    same_sign = dv_clamped + dv_free > 0
    offset = np.where(same_sign, sigma, -sigma)
    greater = dv_clamped + offset > dv_free
    return np.where(greater == same_sign, np.int8(1), np.int8(-1))


drops = hnp.arrays(
    float, st.integers(1, 32), elements=st.floats(-10, 10, allow_nan=False, allow_subnormal=False)
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_comparator_equals_discrete_for_zero_offset(data) -> None:
    dvc = data.draw(drops)
    dvf = data.draw(hnp.arrays(float, dvc.shape, elements=st.floats(-10, 10, allow_nan=False)))
    # |C| > |F|  <=>  (C - F)(C + F) > 0  <=>  (C > F) == (C + F > 0), except when
    # |C| == |F| (the two sides are then decided by different strict comparisons).
    not_tie = np.abs(dvc) != np.abs(dvf)
    assume(not_tie.any())
    gate = comparator_direction(dvc, dvf)
    rule = discrete_direction(dvc, dvf, 0.0)
    assert gate.dtype == np.int8
    np.testing.assert_array_equal(gate[not_tie], rule[not_tie])


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1e-6, 10), st.floats(1e-6, 10), st.floats(0, 0.05), st.sampled_from([1.0, -1.0])
)
def test_comparator_with_offset_equals_rule_for_same_sign_drops(c, f, sigma, sign) -> None:
    # When both drops have the same sign, the offset applied with the common-mode sign
    # is exactly |C| + sigma vs |F|, so the gate form agrees with eq. 10 (ties excluded).
    assume(abs(c) + sigma != abs(f))
    dvc, dvf = np.array([sign * c]), np.array([sign * f])
    np.testing.assert_array_equal(
        comparator_direction(dvc, dvf, sigma), discrete_direction(dvc, dvf, sigma)
    )


def test_comparator_hand_cases() -> None:
    # (C, F) -> sign of |C| - |F|: (0.2, 0.1) +1, (0.1, 0.2) -1, (-0.2, 0.1) +1,
    # (0.1, -0.2) -1, (-0.5, -0.3) +1, (-0.3, -0.5) -1
    dvc = np.array([0.2, 0.1, -0.2, 0.1, -0.5, -0.3])
    dvf = np.array([0.1, 0.2, 0.1, -0.2, -0.3, -0.5])
    assert comparator_direction(dvc, dvf).tolist() == [1, -1, 1, -1, 1, -1]
    assert discrete_direction(dvc, dvf, 0.0).tolist() == [1, -1, 1, -1, 1, -1]


# --------------------------------------------------------------------------------------
# 3. step_codes
# --------------------------------------------------------------------------------------


def test_step_codes_clips_at_both_ends() -> None:
    codes = np.array([0, 127, 126, 1, 64, 0, 127], dtype=np.int16)
    direction = np.array([-1, 1, 1, -1, 1, 1, -1], dtype=np.int8)
    out = step_codes(codes, direction, np.ones(7, dtype=bool))
    assert out.tolist() == [0, 127, 127, 0, 65, 1, 126]
    assert out.dtype == np.int16
    assert N_POSITIONS == 128


def test_step_codes_respects_mask_and_n_positions() -> None:
    # a 4-position pot (codes 0..3), batch of two boards
    codes = np.array([[3, 2, 1], [3, 0, 2]], dtype=np.int16)
    direction = np.array([[1, -1, 1], [1, -1, -1]], dtype=np.int8)
    mask = np.array([[True, False, True], [True, True, False]])
    out = step_codes(codes, direction, mask, n_positions=4)
    # row 0: 3+1 clipped to 3, 2 unmasked, 1+1 = 2; row 1: 3+1 -> 3, 0-1 -> 0, 2 unmasked
    assert out.tolist() == [[3, 2, 2], [3, 0, 2]]
    assert out.dtype == np.int16
    # nothing masked: codes come back unchanged whatever the directions
    none = step_codes(codes, direction, np.zeros_like(mask), n_positions=4)
    np.testing.assert_array_equal(none, codes)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([np.int16, np.int64]),  # the dtypes step_codes documents
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
)
def test_step_codes_property(dtype, n_edges, seed) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 128, (3, n_edges)).astype(dtype)
    codes[0, 0] = rng.choice([0, 127])  # make the ends likely to be hit
    direction = rng.choice(np.array([-1, 1], dtype=np.int8), (3, n_edges))
    mask = rng.random((3, n_edges)) < 0.6
    before = codes.copy()
    out = step_codes(codes, direction, mask)
    expected = np.clip(before.astype(int) + direction.astype(int) * mask, 0, 127)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out[~mask], before[~mask])  # unmasked edges unchanged
    assert out.dtype == dtype
    np.testing.assert_array_equal(codes, before)  # input not modified


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_step_codes_narrow_integer_codes_do_not_wrap(dtype) -> None:
    # codes 0..127 fit in int8; stepping 127 up must saturate, not wrap to -128 -> 0
    codes = np.array([127, 126, 0, 1], dtype=dtype)
    direction = np.array([1, 1, -1, -1], dtype=np.int8)
    out = step_codes(codes, direction, np.ones(4, dtype=bool))
    assert out.tolist() == [127, 127, 0, 0]


def test_step_codes_with_direction_from_discrete_rule() -> None:
    # the emulator's pipeline: discrete_direction output feeds step_codes directly
    dvc, dvf = np.array([0.2, 0.1, -0.3]), np.array([0.1, 0.2, 0.1])
    direction = discrete_direction(dvc, dvf, np.zeros(3))
    codes = np.array([64, 0, 127], dtype=np.int16)
    assert step_codes(codes, direction, np.ones(3, dtype=bool)).tolist() == [65, 0, 127]


# --------------------------------------------------------------------------------------
# 4. code_resistance (AD5220 rheostat: R = R_W + code / 128 * R_AB)
# --------------------------------------------------------------------------------------


def test_code_resistance_ends_and_spacing() -> None:
    r_ab, r_w = 100e3, 40.0
    codes = np.arange(129)
    r = code_resistance(codes, r_ab, r_w)
    assert r[0] == r_w
    assert r[128] == pytest.approx(r_w + r_ab, rel=1e-15)
    assert r[64] == pytest.approx(50_040.0, rel=1e-15)  # mid-scale power-on position
    np.testing.assert_allclose(np.diff(r), 781.25, rtol=1e-12)  # 100 kOhm / 128


def test_code_resistance_per_edge_parameters() -> None:
    # per-edge R_AB (part-to-part tolerance) and wiper, broadcast over a batch dim
    codes = np.array([[0, 64, 127], [127, 0, 64]])
    r_ab = np.array([70e3, 100e3, 130e3])
    r_w = np.array([40.0, 100.0, 50.0])
    expected = np.array(
        [
            [40.0, 100.0 + 50e3, 50.0 + 127 * 130e3 / 128],
            [40.0 + 127 * 70e3 / 128, 100.0, 50.0 + 65e3],
        ]
    )
    np.testing.assert_allclose(code_resistance(codes, r_ab, r_w), expected, rtol=1e-14)


# --------------------------------------------------------------------------------------
# 5. continuous_update (eq. 2): dR = gamma / R^2 (dV_C^2 - dV_F^2)
# --------------------------------------------------------------------------------------


def test_continuous_update_hand_values() -> None:
    # R = 1 kOhm, C = 0.2 V, F = 0.1 V, gamma = 1e3: 1e3 / 1e6 * (0.04 - 0.01) = 3e-5
    # R = 2 kOhm, C = 0.1 V, F = -0.3 V, gamma = 4e6: 4e6 / 4e6 * (0.01 - 0.09) = -0.08
    out = continuous_update(np.array([1e3, 2e3]), np.array([0.2, 0.1]), np.array([0.1, -0.3]),
                            gamma=1e3)  # fmt: skip
    assert out[0] == pytest.approx(3e-5, rel=1e-12)
    out2 = continuous_update(np.array([2e3]), np.array([0.1]), np.array([-0.3]), gamma=4e6)
    assert out2[0] == pytest.approx(-0.08, rel=1e-12)
    # clamped drop larger -> R grows; smaller -> R shrinks; equal -> no change
    signs = np.sign(continuous_update(np.full(3, 5e3), np.array([0.5, 0.1, -0.2]),
                                      np.array([0.1, 0.5, 0.2]), gamma=1.0))  # fmt: skip
    assert signs.tolist() == [1.0, -1.0, 0.0]


def test_continuous_update_scales_as_inverse_square_of_r() -> None:
    base = continuous_update(np.array([1e3]), np.array([0.3]), np.array([0.1]), gamma=2.0)
    doubled = continuous_update(np.array([2e3]), np.array([0.3]), np.array([0.1]), gamma=2.0)
    assert doubled[0] == pytest.approx(base[0] / 4, rel=1e-12)


# --------------------------------------------------------------------------------------
# 6. clamped_outputs (eq. 1): V_C = eta V_D + (1 - eta) V_F
# --------------------------------------------------------------------------------------


def test_clamped_outputs() -> None:
    v_free, v_desired = np.array([2.0, -1.0, 0.5]), np.array([4.0, 1.0, 0.5])
    np.testing.assert_array_equal(clamped_outputs(v_free, v_desired, 1.0), v_desired)
    np.testing.assert_allclose(clamped_outputs(v_free, v_desired, 1e-12), v_free, atol=1e-11)
    np.testing.assert_allclose(clamped_outputs(v_free, v_desired, 0.5), [3.0, 0.0, 0.5])
    np.testing.assert_allclose(clamped_outputs(v_free, v_desired, 0.25), [2.5, -0.5, 0.5])
    # linear in eta: equal steps in eta give equal steps in V_C
    etas = np.linspace(0.1, 1.0, 10)
    v = np.array([clamped_outputs(v_free, v_desired, eta) for eta in etas])
    step = np.broadcast_to(0.1 * (v_desired - v_free), (9, 3))
    np.testing.assert_allclose(np.diff(v, axis=0), step, atol=1e-12)


# --------------------------------------------------------------------------------------
# 7. update_mask
# --------------------------------------------------------------------------------------

# Tolerance for the statistical tests below: the measured rate p_hat over n Bernoulli
# draws has standard error sqrt(p (1 - p) / n) and is very nearly normal for n >~ 1e4;
# a 4-sigma band is exceeded with probability 2 (1 - Phi(4)) ~ 6.3e-5 if the code is
# right, while a rate that is off by even 2 % of p is rejected (n = 64 000 gives
# SE <= 0.002). The seeds are fixed, so the tests are deterministic anyway.
STEPS, EDGES = 4000, 16


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_bernoulli_rate(p: float) -> None:
    mask = update_mask(np.random.default_rng(10), (STEPS, EDGES), p)
    assert mask.shape == (STEPS, EDGES) and mask.dtype == bool
    n = mask.size
    assert abs(mask.mean() - p) <= 4 * np.sqrt(p * (1 - p) / n)
    # also every single edge (n = STEPS) within its own 4-sigma band... with 16 edges
    # the family-wise false-failure rate is 16 * 6.3e-5 ~ 1e-3 (seed fixed)
    per_edge = mask.mean(axis=0)
    assert np.all(np.abs(per_edge - p) <= 4 * np.sqrt(p * (1 - p) / STEPS))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_bernoulli_edges_independent(p: float) -> None:
    mask = update_mask(np.random.default_rng(11), (STEPS, EDGES), p)
    corr = np.corrcoef(mask.T.astype(float))
    off = corr[~np.eye(EDGES, dtype=bool)]
    # Each pairwise r of independent sequences has SE ~ 1/sqrt(STEPS); their mean is
    # tighter still, so |mean r| < 4 / sqrt(STEPS) (= 0.063) is a loose bound that a
    # shared component among edges (e.g. all edges driven by one random number) fails.
    assert abs(off.mean()) < 4 / np.sqrt(STEPS)
    # the steps are independent in time too (lag-1 autocorrelation per edge)
    x = mask.astype(float) - mask.mean(axis=0)
    lag1 = (x[1:] * x[:-1]).mean(axis=0) / x.var(axis=0)
    assert abs(lag1.mean()) < 4 / np.sqrt(STEPS)


def test_bernoulli_per_row_p() -> None:
    p = np.array([[0.1], [0.5], [0.9]])  # (B, 1): one p per batch row
    mask = update_mask(np.random.default_rng(12), (STEPS, 3, EDGES), p)
    assert mask.shape == (STEPS, 3, EDGES)
    rates = mask.mean(axis=(0, 2))
    n = STEPS * EDGES
    se = np.sqrt(p[:, 0] * (1 - p[:, 0]) / n)
    assert np.all(np.abs(rates - p[:, 0]) <= 4 * se), rates
    # single-step shape (B, E) with (B, 1) p as well
    one = update_mask(np.random.default_rng(13), (3, EDGES), p)
    assert one.shape == (3, EDGES)


def test_bernoulli_extremes() -> None:
    rng = np.random.default_rng(14)
    assert update_mask(rng, (100, EDGES), 1.0).all()
    assert not update_mask(rng, (100, EDGES), 0.0).any()


@pytest.mark.parametrize(("p", "n_edges"), [(0.1, 16), (0.25, 16), (0.5, 143), (0.9, 16),
                                            (0.3, 7), (1.0, 16), (0.0, 16)])  # fmt: skip
def test_fixed_exact_count_every_row(p: float, n_edges: int) -> None:
    mask = update_mask(np.random.default_rng(15), (500, n_edges), p, mode="fixed")
    assert mask.shape == (500, n_edges) and mask.dtype == bool
    # round(p E): 1.6 -> 2, 4, 71.5 -> 72 (round half to even), 14.4 -> 14, 2.1 -> 2
    expected = {(0.1, 16): 2, (0.25, 16): 4, (0.5, 143): 72, (0.9, 16): 14, (0.3, 7): 2,
                (1.0, 16): 16, (0.0, 16): 0}[(p, n_edges)]  # fmt: skip
    assert np.all(mask.sum(axis=1) == expected)


def test_fixed_choice_is_uniform_over_edges() -> None:
    # exactly 4 of 16 per step, chosen at random: each edge is picked with frequency
    # 4/16 over the steps (binomial; 4-sigma band, see the tolerance note above).
    mask = update_mask(np.random.default_rng(16), (STEPS, EDGES), 0.25, mode="fixed")
    freq = mask.mean(axis=0)
    assert np.all(np.abs(freq - 0.25) <= 4 * np.sqrt(0.25 * 0.75 / STEPS)), freq
    # and not the same subset every step
    assert len({tuple(row) for row in mask[:50].tolist()}) > 40


def test_fixed_per_row_p_vector() -> None:
    p = np.array([0.25, 0.5, 1.0])  # one fraction per batch row, shape (B,)
    mask = update_mask(np.random.default_rng(17), (3, EDGES), p, mode="fixed")
    assert mask.shape == (3, EDGES)
    assert mask.sum(axis=1).tolist() == [4, 8, 16]


def test_fixed_per_row_p_column() -> None:
    p = np.array([[0.25], [0.5], [1.0]])  # (B, 1), as for the "bernoulli" mode
    mask = update_mask(np.random.default_rng(18), (3, EDGES), p, mode="fixed")
    assert mask.shape == (3, EDGES)
    assert mask.sum(axis=1).tolist() == [4, 8, 16]


# --------------------------------------------------------------------------------------
# 8. batch_mask
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (1,), (1000, 5), (2, 3, 4)])
@pytest.mark.parametrize("mode", ["bernoulli", "fixed"])
def test_batch_mask_never_empty(shape, mode) -> None:
    mask = batch_mask(np.random.default_rng(19), shape, 1e-9, mode=mode)
    assert mask.shape == shape and mask.dtype == bool
    # b so small that no example joins by chance: exactly the one added example per row
    assert np.all(mask.sum(axis=-1) == 1)


def test_batch_mask_adds_one_only_to_empty_rows() -> None:
    # B = 4 examples, b = 0.3: the natural count Y ~ Bin(4, 0.3); empty rows get one
    # example, so X = Y + [Y == 0]. Compare the mean count over many rows with the exact
    # E[X] = 4 * 0.3 + 0.7^4 within 4 standard errors (tolerance note above).
    rows, b, n = 40_000, 0.3, 4
    mask = batch_mask(np.random.default_rng(20), (rows, n), b)
    counts = mask.sum(axis=1)
    assert counts.min() >= 1
    pmf = binom.pmf(np.arange(n + 1), n, b)
    pmf_x = pmf.copy()
    pmf_x[1] += pmf_x[0]
    pmf_x[0] = 0.0
    k = np.arange(n + 1)
    mean, var = (k * pmf_x).sum(), (k**2 * pmf_x).sum() - (k * pmf_x).sum() ** 2
    assert mean == pytest.approx(n * b + (1 - b) ** n)
    assert abs(counts.mean() - mean) <= 4 * np.sqrt(var / rows)
    # and the share of single-example rows matches P(Y <= 1)
    p1 = pmf_x[1]
    assert abs((counts == 1).mean() - p1) <= 4 * np.sqrt(p1 * (1 - p1) / rows)


@pytest.mark.parametrize(("b", "size", "expected"), [(0.5, 16, 8), (0.25, 16, 4),
                                                     (1.0, 5, 5), (0.01, 16, 1)])  # fmt: skip
def test_batch_mask_fixed_exact_count(b: float, size: int, expected: int) -> None:
    # round(b B) examples, but never fewer than one (0.16 rounds to 0 -> 1)
    mask = batch_mask(np.random.default_rng(21), (300, size), b, mode="fixed")
    assert np.all(mask.sum(axis=1) == expected)


def test_batch_mask_full_batch() -> None:
    assert batch_mask(np.random.default_rng(22), (50, 16), 1.0).all()


# --------------------------------------------------------------------------------------
# 9. lab.hal.calibration
# --------------------------------------------------------------------------------------

#: p = 1 plateau up to 1 V, falling to 0 at 4 V, with a kink at 2 V
PLATEAU = Calibration(np.array([0.0, 1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 0.6, 0.2, 0.0]))
LINEAR = Calibration.linear(0.5, 2.5)


def test_calibration_rejects_non_monotone_naming_bias() -> None:
    with pytest.raises(CalibrationError) as info:
        Calibration(np.array([0.5, 1.25, 2.0, 3.0]), np.array([1.0, 0.4, 0.7, 0.0]))
    message = str(info.value)
    # p rises between 1.25 V and 2 V: both bias values must be named
    assert re.search(r"(?<![\d.])1\.25 V", message), message
    assert re.search(r"(?<![\d.])2 V", message), message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("bias", "p", "pattern"),
    [
        ([0.0, 2.0, 1.0], [1.0, 0.5, 0.0], r"(?<![\d.])1 V.*(?<![\d.])2 V"),  # bias falls
        ([0.0, 1.0, 1.0], [1.0, 0.5, 0.0], r"(?<![\d.])1 V"),  # bias repeats
        ([0.0, 1.0], [1.2, 0.0], r"\[0, 1\]"),  # p > 1
        ([0.0, 1.0], [1.0, -0.1], r"\[0, 1\]"),  # p < 0
        ([0.0, 1.0], [np.nan, 0.0], r"\[0, 1\]"),  # NaN p
        ([0.0], [1.0], r">= 2"),  # a single point
        ([0.0, 1.0], [1.0, 0.5, 0.0], r"equal length"),
    ],
)
def test_calibration_rejects_bad_tables(bias, p, pattern) -> None:
    with pytest.raises(CalibrationError, match=pattern):
        Calibration(np.array(bias), np.array(p))


def test_calibration_source_in_message() -> None:
    with pytest.raises(CalibrationError, match="bench-7"):
        Calibration(np.array([0.0, 1.0]), np.array([0.2, 0.9]), source="bench-7")


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
def test_volts_for_inverts_p_at(p: float) -> None:
    for cal in (PLATEAU, LINEAR):
        v = cal.volts_for(p)
        # interpolation round trip on a piecewise-linear table: float rounding only
        assert cal.p_at(v) == pytest.approx(p, abs=1e-12)
        assert cal.bias[0] <= v <= cal.bias[-1]


@settings(max_examples=200, deadline=None)
@given(st.floats(1.0, 4.0, exclude_min=True))
def test_p_at_inverts_volts_for_on_falling_part(v: float) -> None:
    # PLATEAU falls strictly on (1, 4]: there bias -> p is one-to-one
    assert PLATEAU.volts_for(float(PLATEAU.p_at(v))) == pytest.approx(v, abs=1e-9)


def test_volts_for_p_one_and_zero() -> None:
    v1 = PLATEAU.volts_for(1.0)
    assert PLATEAU.p_at(v1) == 1.0
    assert PLATEAU.p_at(LINEAR.volts_for(1.0)) == 1.0
    assert LINEAR.p_at(LINEAR.volts_for(1.0)) == 1.0
    assert PLATEAU.p_at(PLATEAU.volts_for(0.0)) == 0.0
    # p = 0.6 sits exactly on the kink at 2 V
    assert PLATEAU.volts_for(0.6) == pytest.approx(2.0)
    assert LINEAR.volts_for(0.5) == pytest.approx(1.5)


def test_volts_for_out_of_range() -> None:
    for p in (-0.1, 1.1):
        with pytest.raises(CalibrationError):
            LINEAR.volts_for(p)
    partial = Calibration(np.array([0.0, 1.0]), np.array([0.8, 0.1]))
    with pytest.raises(CalibrationError, match=r"0\.8"):
        partial.volts_for(1.0)
    with pytest.raises(CalibrationError):
        partial.volts_for(0.05)


def test_p_at_clamps_to_table_ends() -> None:
    np.testing.assert_array_equal(PLATEAU.p_at(np.array([-5.0, 0.5, 10.0])), [1.0, 1.0, 0.0])
    assert LINEAR.p_at(1.0) == pytest.approx(0.75)  # (2.5 - 1.0) / 2.0


def test_calibration_dict_round_trip() -> None:
    again = Calibration.from_dict(PLATEAU.to_dict())
    np.testing.assert_array_equal(again.bias, PLATEAU.bias)
    np.testing.assert_array_equal(again.p, PLATEAU.p)


def test_monotone_fit_hand_example() -> None:
    # isotonic (non-increasing) fit of 1.0, 0.6, 0.8, 0.1: the violating pair 0.6 < 0.8
    # is pooled to its mean 0.7 -> 1.0, 0.7, 0.7, 0.1. Bias given out of order.
    cal = monotone_fit([2.0, 0.0, 3.0, 1.0], [0.8, 1.0, 0.1, 0.6])
    np.testing.assert_array_equal(cal.bias, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(cal.p, [1.0, 0.7, 0.7, 0.1], atol=1e-12)
    assert cal.source == "measured"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=20),
    st.booleans(),
)
def test_monotone_fit_property(ps: list[float], already_sorted: bool) -> None:
    n = len(ps)
    bias = np.linspace(0.0, 5.0, n)
    p = np.array(sorted(ps, reverse=True)) if already_sorted else np.array(ps)
    cal = monotone_fit(bias.tolist(), p.tolist())
    assert np.all(np.diff(cal.p) <= 0)
    assert np.all((cal.p >= 0) & (cal.p <= 1))
    # isotonic regression preserves the mean (pooling replaces blocks by their means)
    assert cal.p.mean() == pytest.approx(p.mean(), abs=1e-12)
    if already_sorted:
        np.testing.assert_allclose(cal.p, p, atol=1e-15)


def test_measure_p_synthetic() -> None:
    masks = np.zeros((4, 3), dtype=bool)
    masks[[0, 1, 3], [0, 2, 1]] = True  # 3 of 12 entries
    p, se = measure_p(masks)
    assert p == 0.25
    assert se == pytest.approx(np.sqrt(0.25 * 0.75 / 12))
    p0, se0 = measure_p(np.zeros((10, 4), dtype=bool))
    assert p0 == 0.0 and 0 < se0 < 1e-6
    # statistical: a Bernoulli(0.3) mask measures 0.3 within 4 of its own SEs
    big = np.random.default_rng(30).random((2000, 16)) < 0.3
    p_big, se_big = measure_p(big)
    assert se_big == pytest.approx(np.sqrt(0.3 * 0.7 / big.size), rel=0.05)
    assert abs(p_big - 0.3) <= 4 * se_big


def test_edge_correlation_synthetic() -> None:
    a = np.array([1, 1, 0, 0], dtype=bool)
    # hand-worked: a = 1100, b = 1110: means 1/2 and 3/4; cov = E[ab] - 3/8 = 1/2 - 3/8
    # = 1/8; var a = 1/4, var b = 3/16; r = (1/8) / sqrt(3/64) = 1/sqrt(3)
    assert edge_correlation(np.column_stack([a, [1, 1, 1, 0]])) == pytest.approx(1 / np.sqrt(3))
    assert edge_correlation(np.column_stack([a, [1, 0, 1, 0]])) == pytest.approx(0.0, abs=1e-15)
    assert edge_correlation(np.column_stack([a, a, a])) == pytest.approx(1.0)
    assert edge_correlation(np.column_stack([a, ~a])) == pytest.approx(-1.0)
    assert np.isnan(edge_correlation(np.column_stack([a, np.ones(4, dtype=bool)])))
    # independent Bernoulli(0.5) edges: |mean r| < 4 / sqrt(steps), as in test 7
    masks = update_mask(np.random.default_rng(31), (STEPS, EDGES), 0.5)
    assert abs(edge_correlation(masks)) < 4 / np.sqrt(STEPS)
    # a shared driver: each edge copies a common sequence 80 % of the time -> r ~ 0.64
    rng = np.random.default_rng(32)
    common = rng.random((STEPS, 1)) < 0.5
    own = rng.random((STEPS, EDGES)) < 0.5
    mixed = np.where(rng.random((STEPS, EDGES)) < 0.8, common, own)
    assert edge_correlation(mixed) > 0.5


# --------------------------------------------------------------------------------------
# The power rule (second seed, CircuitLab): +1 if |P_C| > |P_F| else -1, P = dV^2 / R;
# sigma on the free twin's voltage scale: |dV_C| sqrt(R_F / R_C) + sigma > |dV_F|
# --------------------------------------------------------------------------------------

# (dV_C, dV_F, R_C, R_F, sigma, power, voltage), each worked by hand
POWER_TABLE = [
    # P_C = 1/2 = 0.5 W/kOhm < P_F = 0.81: power down; voltage 1.0 > 0.9: up
    (1.0, 0.9, 2.0, 1.0, 0.0, -1, +1),
    # P_C = 0.81 / 0.5 = 1.62 > P_F = 1: power up; voltage 0.9 < 1.0: down
    (0.9, 1.0, 0.5, 1.0, 0.0, +1, -1),
    # equal twins: the voltage rule exactly, sigma included (0.1 + 0.05 > 0.12)
    (0.1, 0.12, 3.0, 3.0, 0.05, +1, +1),
    (-0.1, 0.2, 3.0, 3.0, 0.05, -1, -1),
    # sigma on the free scale: 1.0 sqrt(1/4) + 0.6 = 1.1 > 1.0 -> up; without it, down
    (1.0, 1.0, 4.0, 1.0, 0.6, +1, +1),
    (1.0, 1.0, 4.0, 1.0, 0.0, -1, -1),
    # signs do not matter (|P|)
    (-1.0, 0.9, 2.0, 1.0, 0.0, -1, +1),
]


@pytest.mark.parametrize(("dvc", "dvf", "rc", "rf", "sigma", "power", "voltage"), POWER_TABLE)
def test_power_direction_hand_cases(dvc, dvf, rc, rf, sigma, power, voltage) -> None:
    from lab.core.learning import power_direction, rule_direction

    assert power_direction(dvc, dvf, rc, rf, sigma) == power
    assert rule_direction("power", dvc, dvf, sigma, rc, rf) == power
    assert rule_direction("voltage", dvc, dvf, sigma, rc, rf) == voltage
    assert discrete_direction(dvc, dvf, sigma) == voltage


def test_power_rule_without_sigma_compares_dissipated_power() -> None:
    from lab.core.learning import power_direction

    rng = np.random.default_rng(4)
    dvc, dvf = rng.normal(size=(2, 1000))
    rc, rf = rng.uniform(0.5, 2.0, size=(2, 1000))
    expected = np.where(dvc**2 / rc > dvf**2 / rf, 1, -1)
    assert np.array_equal(power_direction(dvc, dvf, rc, rf, np.zeros(1000)), expected)
    # equal twins: identical to the voltage rule for any sigma
    sigma = rng.uniform(0, 0.05, 1000)
    assert np.array_equal(
        power_direction(dvc, dvf, rf, rf, sigma), discrete_direction(dvc, dvf, sigma)
    )


def test_rule_direction_refuses_an_unknown_rule() -> None:
    from lab.core.learning import rule_direction

    with pytest.raises(ValueError, match="'voltage', 'power'"):
        rule_direction("current", 1.0, 1.0, 0.0)


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_emulated_board_clock_edge_implements_the_configured_rule() -> None:
    """The three-edge chain 1-2-3-4 (5 V at 1, 0 V at 4, output 3), worked by hand.

    Free twin: R_F = (8, 8, 8) kOhm: node voltages 5, 10/3, 5/3, 0; every drop 5/3 V.
    Clamped twin: R_C = (9.6, 8, 6.4) kOhm (x1.2, x1, x0.8), output 3 clamped at 1.5 V:
    V2 = (5/9.6 + 1.5/8) / (1/9.6 + 1/8) = 3.0909 V; drops 1.9091, 1.5909, 1.5 V.
    voltage: (+1, -1, -1). power: P_C = 1.9091^2/9.6 = 0.3797, 1.5909^2/8 = 0.3164,
    1.5^2/6.4 = 0.3516 mW vs P_F = (5/3)^2/8 = 0.3472 mW each: (+1, -1, +1).
    The rules disagree on edge 3 only.
    """
    from lab.emulator import EmulatedBoard, EmulatorConfig
    from lab.emulator.board import CLAMPED, FREE

    expected = {"voltage": [1, -1, -1], "power": [1, -1, 1]}
    for rule, directions in expected.items():
        config = EmulatorConfig.ideal(
            network="data/networks/chain3.toml", positions=16, r_wiper=0.0, r_wiper_max=0.0,
            sigma_max=0.0, rule=rule,
        )  # fmt: skip
        board = EmulatedBoard(config)
        assert board.codes.tolist() == [8, 8, 8]  # mid-scale: R = R_AB / 2
        board.use_parts(np.array([[16e3] * 3, [19.2e3, 16e3, 12.8e3]]), 0.0)
        np.testing.assert_allclose(board.resistance(), [[8e3] * 3, [9.6e3, 8e3, 6.4e3]])
        board.drive(FREE, np.array([0, 3]), [5.0, 0.0])
        board.drive(CLAMPED, np.array([0, 3, 2]), [5.0, 0.0, 1.5])
        np.testing.assert_allclose(board.node_voltages(FREE), [5, 10 / 3, 5 / 3, 0])
        np.testing.assert_allclose(board.node_voltages(CLAMPED)[1], 3.0909090909, rtol=1e-9)
        board.bias = config.osc_low  # p = 1
        board.clock_edge()
        assert board.last_direction.tolist() == directions, rule
        assert board.last_mask.all()
        assert board.codes.tolist() == [8 + d for d in directions]
