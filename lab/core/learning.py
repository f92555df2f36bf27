"""Coupled-learning update rules as pure array functions (batch dimensions first).

Conventions: ``dv_free`` and ``dv_clamped`` are the voltage drops across every edge
in the free and clamped states, shape (..., E), in V. Digipot codes are integers
in [0, n_positions - 1]. Nothing here holds state; the emulator and the batched
studies call these same functions (one physics, used two ways).
"""

from __future__ import annotations

from typing import Literal

import numba as nb
import numpy as np

# re-exported for the modules that take them from here; defined in lab.core.digipot
from lab.core.digipot import N_POSITIONS, code_resistance  # noqa: F401
from lab.core.rules import RULES, RuleKind  # noqa: F401

#: Upper end of the comparator offset sigma, drawn uniform on [0, SIGMA_MAX] V per edge.
SIGMA_MAX = 0.05

MaskMode = Literal["bernoulli", "fixed"]



def clamped_outputs(v_free: np.ndarray, v_desired: np.ndarray, eta: float) -> np.ndarray:
    """V_C = eta V_D + (1 - eta) V_F (eq. 1), any matching shapes, V."""
    return eta * v_desired + (1.0 - eta) * v_free


@nb.vectorize(["int8(float64, float64, float64)", "int8(float32, float32, float32)"], cache=True)
def discrete_direction(dv_clamped: float, dv_free: float, sigma: float) -> int:  # type: ignore[misc]
    """Direction of the discrete rule (eq. 10): +1 if |dV_C| + sigma > |dV_F| else -1.

    A ufunc: drops (..., E) and sigma broadcastable (typically (E,)), V; returns int8.
    """
    return 1 if abs(dv_clamped) + sigma > abs(dv_free) else -1


@nb.vectorize(
    ["int8(float64, float64, float64, float64, float64)"], cache=True
)
def power_direction(  # type: ignore[misc]
    dv_clamped: float, dv_free: float, r_clamped: float, r_free: float, sigma: float
) -> int:
    """Direction of the power rule: +1 (resistance up) if |P_C| > |P_F| else -1.

    P = dV^2 / R is the power dissipated in the edge's digipot of each twin (``r_clamped``,
    ``r_free`` in Ohm, > 0). The comparator offset ``sigma`` (V) enters as in eq. 10, on
    the free twin's voltage scale: the comparator sees each twin's power as the drop that
    would dissipate it in the free twin's part, sqrt(P R_F), so the test is

        |dV_C| sqrt(R_F / R_C) + sigma > |dV_F|.

    With sigma = 0 this is exactly |P_C| > |P_F|; with equal twins (R_C = R_F) it is the
    voltage rule `discrete_direction` exactly, sigma included; with mismatched twins the
    two rules disagree where |dV_C| / |dV_F| lies between 1 and sqrt(R_C / R_F) (shifted
    by sigma). A ufunc: any broadcastable shapes (..., E); returns int8.
    """
    return 1 if abs(dv_clamped) * np.sqrt(r_free / r_clamped) + sigma > abs(dv_free) else -1


def rule_direction(
    rule: str,
    dv_clamped: np.ndarray,
    dv_free: np.ndarray,
    sigma: np.ndarray | float,
    r_clamped: np.ndarray | float = 1.0,
    r_free: np.ndarray | float = 1.0,
) -> np.ndarray:
    """The discrete rule's direction (int8, (..., E)) for ``rule`` in `RULES`: drops V,
    ``sigma`` V, the twins' resistances Ohm (used by "power" only)."""
    if rule == "voltage":
        return discrete_direction(dv_clamped, dv_free, sigma)
    if rule == "power":
        dv_c, dv_f, r_c, r_f, sig = np.broadcast_arrays(
            *(np.asarray(x, dtype=float) for x in (dv_clamped, dv_free, r_clamped, r_free, sigma))
        )
        return power_direction(dv_c, dv_f, r_c, r_f, sig)
    raise ValueError(f"rule: expected one of {', '.join(map(repr, RULES))}, got {rule!r}")


@nb.vectorize(
    ["int16(int16, int8, boolean, int64)", "int64(int64, int8, boolean, int64)"], cache=True
)
def step_code(code: int, direction: int, enabled: bool, top: int) -> int:  # type: ignore[misc]
    if not enabled:
        return code
    stepped = code + direction
    return 0 if stepped < 0 else (top if stepped > top else stepped)


def step_codes(
    codes: np.ndarray, direction: np.ndarray, mask: np.ndarray, n_positions: int = N_POSITIONS
) -> np.ndarray:
    """New digipot codes: codes + direction where mask, clipped to [0, n_positions - 1].

    ``codes`` int16 or int64 (..., E), ``direction`` int8 (..., E), ``mask`` bool (..., E);
    the result has the dtype of ``codes``.
    """
    return step_code(codes, direction, mask, n_positions - 1)


@nb.njit(cache=True, nogil=True)
def discrete_step_from_nodes(v_free, v_clamped, edges, sigma, codes, enabled, top, direction):
    """One step of the discrete rule for every edge, in place, from node voltages.

    ``v_free``/``v_clamped`` (N,) V, ``edges`` (E, 2), ``sigma`` (E,) V, ``codes`` (E,)
    updated in place, ``enabled`` (E,) bool, ``top`` the highest code, ``direction`` (E,)
    int8 filled with each edge's decision. Fuses drops, `discrete_direction` and
    `step_codes` into one pass (the emulator's clock edge).
    """
    for e in range(len(codes)):
        a = edges[e, 0]
        b = edges[e, 1]
        d = discrete_direction(v_clamped[a] - v_clamped[b], v_free[a] - v_free[b], sigma[e])
        direction[e] = d
        codes[e] = step_code(codes[e], d, enabled[e], top)


@nb.njit(cache=True, nogil=True)
def power_step_from_nodes(v_free, v_clamped, edges, sigma, codes, enabled, top, direction,
                          r_free, r_clamped):  # fmt: skip
    """`discrete_step_from_nodes` with the power rule (`power_direction`): ``r_free``,
    ``r_clamped`` (E,) Ohm are each twin's digipot resistance at the current codes."""
    for e in range(len(codes)):
        a = edges[e, 0]
        b = edges[e, 1]
        d = power_direction(v_clamped[a] - v_clamped[b], v_free[a] - v_free[b], r_clamped[e],
                            r_free[e], sigma[e])  # fmt: skip
        direction[e] = d
        codes[e] = step_code(codes[e], d, enabled[e], top)


@nb.vectorize(["float64(float64, float64, float64, float64)"], cache=True)
def continuous_delta(resistance: float, dv_clamped: float, dv_free: float, gamma: float) -> float:  # type: ignore[misc]
    """Eq. 2 as a ufunc (callable from compiled kernels): gamma / R^2 (dV_C^2 - dV_F^2)."""
    return gamma / (resistance * resistance) * (dv_clamped * dv_clamped - dv_free * dv_free)


def continuous_update(
    resistance: np.ndarray, dv_clamped: np.ndarray, dv_free: np.ndarray, gamma: float
) -> np.ndarray:
    """Continuous coupled learning (eq. 2): dR = gamma / R^2 (dV_C^2 - dV_F^2), (..., E)."""
    return continuous_delta(resistance, dv_clamped, dv_free, gamma)


def continuous_batch_update(
    resistance: np.ndarray,
    dv_clamped: np.ndarray,
    dv_free: np.ndarray,
    gamma: float,
    included: np.ndarray | None = None,
) -> np.ndarray:
    """One step of the continuous rule over a mini-batch (eq. 7), Ohm, (E,).

    The *sum* (not the mean) of eq. 2 over the step's included examples: ``dv_clamped``
    and ``dv_free`` (M, E) V, one row per training example; ``included`` (M,) bool (the
    `batch_mask` row; default all). ``resistance`` (E,) Ohm, ``gamma`` Ohm^3 / V^2 per
    example. The batched kernel (`lab.insilico.batch`) sums `continuous_delta` the same way.
    """
    per_example = continuous_delta(resistance, dv_clamped, dv_free, gamma)
    if included is not None:
        per_example = per_example[np.asarray(included, dtype=bool)]
    return per_example.sum(axis=0)


def update_mask(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    p: float | np.ndarray,
    mode: MaskMode = "bernoulli",
) -> np.ndarray:
    """Which edges update this step, bool ``shape`` (..., E) (eq. 3 / 11).

    "bernoulli": each edge independently with probability p; "fixed": exactly
    round(p E) edges chosen at random. ``p`` is a scalar, one value per leading index
    (shape ``shape[:-1]``, e.g. (B,)), or anything broadcastable to ``shape`` (e.g. (B, 1)).
    """
    p = _per_row(p, shape)
    if mode == "bernoulli":
        return rng.random(shape) < p
    ranks = rng.random(shape).argsort(axis=-1).argsort(axis=-1)
    return ranks < np.rint(p * shape[-1])


def _per_row(p: float | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``p`` with a trailing axis added if it has one value per leading index."""
    p = np.asarray(p, dtype=float)
    return p[..., None] if p.ndim and p.shape == tuple(shape[:-1]) else p


def batch_mask(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    b: float | np.ndarray,
    mode: MaskMode = "bernoulli",
) -> np.ndarray:
    """Which training examples join this step's sum, bool ``shape`` (..., B).

    "bernoulli": each example with probability b (eq. 7 with random inclusion);
    "fixed": exactly round(b B) examples. At least one example is always included.
    ``b`` broadcasts as ``p`` does in `update_mask`.
    """
    mask = update_mask(rng, shape, b, mode)
    empty = ~mask.any(axis=-1)
    if empty.any():  # an empty batch carries no gradient: include one example at random
        pick = rng.integers(0, shape[-1], size=int(empty.sum()))
        mask[empty, pick] = True
    return mask
