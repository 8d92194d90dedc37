"""Assignment 7, hidden tests: `lr_at` and the scheduler at fresh random inputs, against
the README's formula. Instructors only: graded by `tools/grade.py --hidden
solutions/hidden_tests` (copied into autograder/hidden/, hidden visibility), never in the
student copy.

The public grader checks submissions against a table of stored cases
(autograder/assignment_07/snapshots.json) that a submission could memorise. These tests
draw settings the table does not hold from the per-submission seed and compute the
expected LR here, so only an implementation of the formula earns their points. Edge
cases are always drawn: W = round(warmup_epochs x steps_per_epoch) at an exact half
(Python's round, halves to even) and warmup lasting all of training (W == T).
Tolerances as in the public grader: relative 1e-9 for `lr_at`, 1e-6 through an optimizer.
"""

from __future__ import annotations

import math

import pytest
import torch

from starter.config import ScheduleConfig

REL = 1e-9


def reference_lr(step: int, s: ScheduleConfig, base_lr: float, steps_per_epoch: int, epochs: int) -> float:
    """The README's schedule, stated independently of the reference solution's code."""
    w = round(s.warmup_epochs * steps_per_epoch)  # Python's round: round(2.5) == 2
    t = epochs * steps_per_epoch
    if step < w:
        return s.warmup_start_lr + (base_lr - s.warmup_start_lr) * step / w
    if s.decay == "cosine":  # W == T: no decay phase; at step T the LR is the peak
        p = min(1.0, (step - w) / max(1, t - w))
        return s.min_lr + (base_lr - s.min_lr) * (1 + math.cos(math.pi * p)) / 2
    if s.decay == "step":
        return max(s.min_lr, base_lr * s.step_gamma ** (step // (s.step_epochs * steps_per_epoch)))
    return base_lr


def fresh_case(rng, kind: str, decay: str | None = None, max_spe: int = 500, max_epochs: int = 40):
    """(cfg, base_lr, steps_per_epoch, epochs) as the config allows them (0 <= warmup_epochs
    <= epochs, min_lr <= base_lr), from wider ranges than the public snapshot's."""
    epochs, spe = rng.randint(1, max_epochs), rng.randint(1, max_spe)
    base_lr = 10 ** rng.uniform(-5, 0.5)
    warmup = rng.choice([0.0, 0.5, 1.0, round(rng.uniform(0, epochs), 4)])
    if kind == "round_half":  # W at an exact half with an even integer part: halves up gives W + 1
        while True:
            spe, k = rng.randrange(1, max_spe, 2), rng.randrange(epochs)
            if math.floor((k + 0.5) * spe) % 2 == 0:
                warmup = k + 0.5
                break
    elif kind == "warmup_all":  # W == T
        warmup = float(epochs) if rng.random() < 0.5 else epochs - rng.uniform(0, 0.45) / spe
    cfg = ScheduleConfig(
        warmup_epochs=warmup,
        warmup_start_lr=base_lr * rng.choice([0.0, rng.uniform(0.0001, 0.9)]),
        decay=decay or rng.choice(["none", "cosine", "cosine", "step"]),
        min_lr=base_lr * rng.choice([0.0, rng.uniform(0.0001, 0.5)]),
        step_epochs=rng.randint(1, epochs),
        step_gamma=rng.uniform(0.01, 0.99),
    )
    assert kind != "warmup_all" or round(cfg.warmup_epochs * spe) == spe * epochs
    return cfg, base_lr, spe, epochs


def steps_to_check(rng, cfg: ScheduleConfig, spe: int, epochs: int) -> list[int]:
    w, t = round(cfg.warmup_epochs * spe), epochs * spe
    edges = [0, 1, w - 1, w, w + 1, w + 2, t // 2, t - 1, t]  # step T: the LR set after the last step
    edges += [k * cfg.step_epochs * spe + d for k in range(1, 4) for d in (-1, 0)]  # around step drops
    return sorted({s for s in edges if 0 <= s <= t} | {rng.randint(0, t) for _ in range(12)})


@pytest.fixture
def schedule(impl_module):
    return impl_module("assignment_07.schedule")


@pytest.mark.points(4)
def test_lr_at_matches_the_formula_at_fresh_random_inputs(schedule, rng, grader_seed):
    kinds = [("random", None)] * 30 + [("round_half", None)] * 5 + [("warmup_all", "cosine")] * 2
    kinds += [("warmup_all", "none"), ("warmup_all", "step")]
    for kind, decay in kinds:
        cfg, base_lr, spe, epochs = fresh_case(rng, kind, decay)
        for step in steps_to_check(rng, cfg, spe, epochs):
            got = schedule.lr_at(step, cfg, base_lr, spe, epochs)
            want = reference_lr(step, cfg, base_lr, spe, epochs)
            assert got == pytest.approx(want, rel=REL, abs=1e-15), (
                f"lr_at({step}) = {got}, expected {want} for {cfg}, base_lr={base_lr}, steps_per_epoch={spe}, "
                f"epochs={epochs} (W = {round(cfg.warmup_epochs * spe)}, T = {spe * epochs}; grader seed {grader_seed})"
            )


@pytest.mark.points(2)
def test_scheduler_follows_the_formula_through_all_of_training(schedule, rng, grader_seed):
    for kind, decay in [("random", None), ("round_half", None), ("warmup_all", "cosine")]:
        cfg, base_lr, spe, epochs = fresh_case(rng, kind, decay, max_spe=60, max_epochs=8)
        a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
        optimizer = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": base_lr / 10}], lr=base_lr)
        scheduler = schedule.build_scheduler(optimizer, cfg, base_lr, spe, epochs)
        for step in range(spe * epochs + 1):  # step T: after the last scheduler.step() of training
            want = reference_lr(step, cfg, base_lr, spe, epochs)
            lrs = [g["lr"] for g in optimizer.param_groups]
            assert lrs[0] == pytest.approx(want, rel=1e-6, abs=1e-15) and lrs[1] == pytest.approx(
                want / 10, rel=1e-6, abs=1e-16
            ), (
                f"LRs {lrs} before step {step}, expected {want} and {want / 10} for {cfg}, base_lr={base_lr}, "
                f"steps_per_epoch={spe}, epochs={epochs} (grader seed {grader_seed})"
            )
            if step < spe * epochs:
                optimizer.step()
                scheduler.step()
