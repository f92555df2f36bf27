"""The reference the benchmarks compare against: a straightforward per-step numpy loop.

This is how one writes coupled learning on the 16-edge network without thinking about
speed: build the Laplacian with a Python loop over edges every step, solve the free and
clamped states with ``numpy.linalg.solve`` on ``np.ix_`` blocks, and decide each edge's
step in a loop. Same physics as the emulator's ideal mode (no converters, no HAL, no
run file).
"""

from __future__ import annotations

import numpy as np


def laplacian(n_nodes: int, edges: np.ndarray, conductance: np.ndarray) -> np.ndarray:
    """Dense weighted graph Laplacian (N, N), built edge by edge."""
    lap = np.zeros((n_nodes, n_nodes))
    for (a, b), k in zip(edges, conductance, strict=True):
        lap[a, a] += k
        lap[b, b] += k
        lap[a, b] -= k
        lap[b, a] -= k
    return lap


def solve(
    n_nodes: int, edges: np.ndarray, conductance: np.ndarray, fixed: dict[int, float]
) -> np.ndarray:
    """Node voltages (N,) with 0-based ``fixed`` nodes held at their voltages."""
    lap = laplacian(n_nodes, edges, conductance)
    fixed_idx = np.array(sorted(fixed))
    free_idx = np.array([i for i in range(n_nodes) if i not in fixed])
    v_fixed = np.array([fixed[i] for i in fixed_idx])
    volts = np.zeros(n_nodes)
    volts[fixed_idx] = v_fixed
    rhs = -lap[np.ix_(free_idx, fixed_idx)] @ v_fixed
    volts[free_idx] = np.linalg.solve(lap[np.ix_(free_idx, free_idx)], rhs)
    return volts


def train_naive(
    n_nodes: int,
    edges: np.ndarray,
    inputs: dict[int, float],
    outputs: dict[int, float],
    steps: int,
    eta: float = 0.5,
    p: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Discrete coupled learning, one step at a time; returns the final codes (E,)."""
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0, 0.05, len(edges))
    codes = np.full(len(edges), 64)
    for _ in range(steps):
        conductance = 1.0 / (40.0 + codes * 100e3 / 128)
        v_free = solve(n_nodes, edges, conductance, inputs)
        clamped = dict(inputs)
        for node, desired in outputs.items():
            clamped[node] = eta * desired + (1 - eta) * v_free[node]
        v_clamped = solve(n_nodes, edges, conductance, clamped)
        for e, (a, b) in enumerate(edges):
            if rng.random() < p:
                up = abs(v_clamped[a] - v_clamped[b]) + sigma[e] > abs(v_free[a] - v_free[b])
                codes[e] = min(127, max(0, codes[e] + (1 if up else -1)))
    return codes
