"""Tests for lab.insilico.batch.train_batch: one step against an independent numpy computation,
batch independence, the p and b masks, and that learning lowers the error."""

from __future__ import annotations

import numpy as np
import pytest

from lab.core.learning import code_resistance, continuous_batch_update, discrete_direction
from lab.core.network import Network
from lab.insilico.batch import Rule, train_batch
from lab.tasks import random_allostery, regression_task


def _states(net: Network, task, k: np.ndarray, m: int, eta: float) -> tuple[np.ndarray, ...]:
    """Free and clamped node voltages of example ``m`` from two separate solves."""
    fixed = (*task.input_nodes, *task.fixed_nodes)
    volts = np.concatenate([task.train_inputs[m], task.fixed_volts])
    v_free = net.solve(k, (fixed, volts))
    out = net.index_of(task.output_nodes)
    v_c = eta * task.train_desired[m] + (1 - eta) * v_free[out]
    v_clamped = net.solve(k, ((*fixed, *task.output_nodes), np.concatenate([volts, v_c])))
    return v_free, v_clamped


@pytest.mark.parametrize("name", ["twin16", "planar143"])
def test_one_continuous_step_equals_two_separate_solves(name: str) -> None:
    net = Network.from_name(name)
    task = regression_task(name, seed=3, n_train=5, n_test=4, n_outputs=2)
    rng = np.random.default_rng(0)
    r0 = rng.uniform(0.5, 2.0, net.n_edges)
    rule = Rule("continuous", eta=0.7, gamma=0.3)
    res = train_batch(net, task, steps=1, rule=rule, initial=r0, eval_every=1)
    # reference: the clamped state from its own factorisation, eq. 2 summed over examples
    drops = [_states(net, task, 1 / r0, m, rule.eta) for m in range(task.n_train)]
    dv_free = np.array([net.drops(v_f) for v_f, _ in drops])
    dv_clamped = np.array([net.drops(v_c) for _, v_c in drops])
    expected = r0 + continuous_batch_update(r0, dv_clamped, dv_free, rule.gamma)
    # 1e-12 Ohm on ~1 Ohm: the low-rank clamped state differs from a second factorisation
    # by rounding only; a wrong G column or eta would be off by > 1e-4.
    np.testing.assert_allclose(res.resistance[0], expected, rtol=0, atol=1e-12)
    assert np.abs(expected - r0).max() > 1e-4  # the step did something
    # the evaluation before the step is the free-state MSE over the train and test sets
    fixed = (*task.input_nodes, *task.fixed_nodes)
    out = net.index_of(task.output_nodes)
    v = net.solve(1 / r0, (fixed, np.column_stack([task.test_inputs, np.zeros((4, 1))])))
    assert res.test_error[0, 0] == pytest.approx(np.mean((v[:, out] - task.test_desired) ** 2))


def test_continuous_step_sums_over_the_examples_as_eq7() -> None:
    """Eq. 7 sums the rule over a step's examples: a training set of every example twice
    moves a step twice as far (a mean would move it the same), and a half batch of fixed
    size moves it about half as far as the full batch."""
    import dataclasses

    net = Network.from_name("twin16")
    task = regression_task("twin16", seed=5, n_train=6, n_test=4)
    twice = dataclasses.replace(
        task,
        train_inputs=np.vstack([task.train_inputs] * 2),
        train_desired=np.vstack([task.train_desired] * 2),
    )
    rule = Rule("continuous", eta=0.5, gamma=1e-3)
    one = train_batch(net, task, steps=1, rule=rule).resistance[0] - 1.0
    two = train_batch(net, twice, steps=1, rule=rule).resistance[0] - 1.0
    assert np.abs(one).max() > 1e-5
    np.testing.assert_allclose(two, 2 * one, rtol=1e-9, atol=1e-15)
    # b = 1/2, fixed fraction: 3 of the 6 examples a step; averaged over many networks the
    # first step is half the full-batch step (each example joins with probability 1/2)
    half = train_batch(net, task, steps=1, rule=rule, b=0.5, b_mode="fixed", seeds=np.arange(400))
    mean_half = (half.resistance - 1.0).mean(axis=0)
    big = np.abs(one) > 0.2 * np.abs(one).max()
    np.testing.assert_allclose(mean_half[big] / one[big], 0.5, atol=0.1)


def test_discrete_steps_equal_the_rule_applied_by_hand() -> None:
    net = Network.from_name("planar143")
    task = random_allostery("planar143", n_io=3, seed=2)
    rule = Rule("discrete", eta=0.5)
    k_table = 1 / code_resistance(np.arange(128), rule.r_end_to_end, rule.r_wiper)
    codes = np.full(net.n_edges, 64)
    res = train_batch(net, task, steps=1, rule=rule, seeds=7)
    for steps in range(1, 4):  # step by step by hand, with the run's own sigma
        v_free, v_clamped = _states(net, task, k_table[codes], 0, rule.eta)
        direction = discrete_direction(net.drops(v_clamped), net.drops(v_free), res.sigma[0])
        codes = np.clip(codes + direction, 0, 127)
        res = train_batch(net, task, steps=steps, rule=rule, seeds=7)
        np.testing.assert_array_equal(res.codes[0], codes)
    assert 0 <= res.sigma.min() and res.sigma.max() <= rule.sigma_max


def test_a_network_does_not_depend_on_its_batch_mates() -> None:
    net = Network.from_name("planar143")
    task = regression_task("planar143", seed=1, n_train=8, n_test=8)
    rule = Rule("discrete")
    together = train_batch(net, task, steps=300, rule=rule, p=[1.0, 0.3, 0.6], seeds=[5, 6, 7])
    alone = train_batch(net, task, steps=300, rule=rule, p=0.3, seeds=6)
    np.testing.assert_array_equal(together.codes[1], alone.codes[0])
    np.testing.assert_array_equal(together.test_error[:, 1], alone.test_error[:, 0])
    assert not np.array_equal(together.codes[0], together.codes[1])


@pytest.mark.parametrize("mode", ["bernoulli", "fixed"])
def test_fraction_of_edges_that_move_follows_p(mode: str) -> None:
    """With p = 0.3 the discrete rule moves 30 % of the edges a step (never clipped from
    mid-scale in one step): binomial, so within 4 standard errors over 40 x 143 edges."""
    net = Network.from_name("planar143")
    task = random_allostery("planar143", n_io=2, seed=0)
    seeds = np.arange(40)
    res = train_batch(net, task, steps=1, rule=Rule("discrete"), p=0.3, seeds=seeds, p_mode=mode)
    moved = (res.codes != 64).mean()
    se = np.sqrt(0.3 * 0.7 / res.codes.size)
    assert abs(moved - 0.3) < 4 * se
    if mode == "fixed":  # exactly round(p E) per network
        np.testing.assert_array_equal((res.codes != 64).sum(axis=1), round(0.3 * 143))


def test_continuous_learning_lowers_test_error_and_p_slows_it() -> None:
    net = Network.from_name("planar143")
    task = regression_task("planar143", seed=4, n_train=16, n_test=32)
    rule = Rule("continuous", gamma=0.2 / 16, eta=1.0)  # 16 examples summed a step
    res = train_batch(net, task, steps=400, rule=rule, p=[1.0, 0.2], seeds=[1, 1], eval_every=40)
    scaled = res.scaled("test")
    assert scaled[-1, 0] < 0.5  # synchronous: well below the start
    # after 400 steps at p = 0.2 the run has had as many edge updates as 80 at p = 1:
    # it must still be behind (collapse: error is a function of steps x p)
    assert scaled[-1, 1] > scaled[-1, 0]
    at80 = np.searchsorted(res.eval_steps, 80)
    assert scaled[-1, 1] == pytest.approx(scaled[at80, 0], rel=0.5)


def test_bad_input_names_the_field() -> None:
    net = Network.twin16()
    task = regression_task("twin16", seed=0)
    with pytest.raises(ValueError, match="'p'"):
        train_batch(net, task, steps=10, p=0.0)
    with pytest.raises(ValueError, match="'b'"):
        train_batch(net, task, steps=10, b=1.5)
    with pytest.raises(ValueError, match="'steps'"):
        train_batch(net, task, steps=0)
    with pytest.raises(ValueError, match="'eta'"):
        Rule("discrete", eta=0.0)
    with pytest.raises(ValueError, match="'initial'"):
        train_batch(net, task, steps=1, rule=Rule("discrete"), initial=np.full(16, 200))
