"""Assignment 7 grader: warmup and decay as a pure function, a per-iteration scheduler,
resume, and a real training run whose logged LR follows the formula.

Expected values come from `snapshots.json` (next to this file): fixed random settings
with the LR that the instructors' reference gives at chosen steps. Each submission's seed
(fixture `rng`) draws its cases from it; the other tests check properties of the
schedule (linear warmup, the peak, the end value, the step ratio, resume) at random
inputs. This file holds no implementation of the schedule: official grading adds
hidden tests that check the formula at fresh random inputs, so answers looked up in the
snapshot table earn nothing there. Tolerance: relative 1e-9 for the pure function (it is
exact math in float64), 1e-6 for LRs read back from an optimizer or a JSON log.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from starter.config import ScheduleConfig

REL = 1e-9
SNAPSHOTS = json.loads((Path(__file__).parent / "snapshots.json").read_text())


def settings(case: dict) -> tuple[ScheduleConfig, float, int, int]:
    """A snapshot case's (cfg, base_lr, steps_per_epoch, epochs)."""
    return ScheduleConfig(**case["schedule"]), case["base_lr"], case["steps_per_epoch"], case["epochs"]


def draw(rng, count: int, kind: str, decay: str | None = None) -> list[dict]:
    cases = [c for c in SNAPSHOTS["lr_at"] if c["kind"] == kind and decay in (None, c["schedule"]["decay"])]
    return rng.sample(cases, count)


def random_case(rng, decay: str | None = None):
    epochs = rng.randint(2, 30)
    base_lr = 10 ** rng.uniform(-4, 0)
    cfg = ScheduleConfig(
        warmup_epochs=rng.choice([0.0, 0.5, 1.0, round(rng.uniform(0.1, epochs / 2), 3)]),
        warmup_start_lr=base_lr * rng.choice([0.0, rng.uniform(0.001, 0.5)]),
        decay=decay or rng.choice(["none", "cosine", "step"]),
        min_lr=base_lr * rng.choice([0.0, rng.uniform(0.001, 0.2)]),
        step_epochs=rng.randint(1, max(1, epochs // 2)),
        step_gamma=rng.uniform(0.05, 0.9),
    )
    return cfg, base_lr, rng.randint(3, 400), epochs


@pytest.fixture
def schedule(impl_module):
    return impl_module("assignment_07.schedule")


@pytest.mark.points(4)
def test_lr_at_matches_the_formula_at_random_steps(schedule, rng, grader_seed):
    # Always a few of the edge cases: W = round(warmup_epochs x steps_per_epoch) at an exact
    # half (Python's round: halves to even), and warmup lasting all of training (W == T),
    # with cosine decay among them (T - W == 0 in its denominator at step T).
    cases = draw(rng, 20, "random") + draw(rng, 3, "round_half")
    cases += draw(rng, 1, "warmup_all", "cosine") + draw(rng, 2, "warmup_all", rng.choice(["none", "step"]))
    for case in cases:
        cfg, base_lr, spe, epochs = settings(case)
        for step, want in zip(case["steps"], case["lrs"], strict=True):
            got = schedule.lr_at(step, cfg, base_lr, spe, epochs)
            assert got == pytest.approx(want, rel=REL, abs=1e-15), (
                f"lr_at({step}) = {got}, expected {want} for {cfg}, base_lr={base_lr}, "
                f"steps_per_epoch={spe}, epochs={epochs} (W = {round(cfg.warmup_epochs * spe)}, T = {spe * epochs}; "
                f"grader seed {grader_seed})"
            )


@pytest.mark.points(2)
def test_warmup_rises_linearly_and_monotonically_from_the_start_lr(schedule, rng):
    cfg, base_lr, spe, epochs = random_case(rng, decay="cosine")
    cfg.warmup_epochs, cfg.warmup_start_lr = 1.5, base_lr * 0.01
    warmup = round(1.5 * spe)
    lrs = [schedule.lr_at(s, cfg, base_lr, spe, epochs) for s in range(warmup + 1)]
    assert lrs[0] == pytest.approx(cfg.warmup_start_lr, rel=REL), "warmup starts at schedule.warmup_start_lr"
    assert all(b > a for a, b in zip(lrs, lrs[1:], strict=False)), "warmup must rise at every step"
    increments = [b - a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert max(increments) == pytest.approx(min(increments), rel=1e-6), "warmup must be linear"


@pytest.mark.points(1)
def test_peak_is_the_base_lr_at_the_end_of_warmup(schedule, rng):
    for decay in ("none", "cosine", "step"):
        cfg, base_lr, spe, epochs = random_case(rng, decay=decay)
        cfg.warmup_epochs, cfg.step_epochs = 1.0, epochs  # no step drop before the peak
        lrs = [schedule.lr_at(s, cfg, base_lr, spe, epochs) for s in range(2 * spe)]
        assert max(lrs) == pytest.approx(base_lr, rel=REL) and lrs[spe] == pytest.approx(base_lr, rel=REL), (
            f"decay={decay}: the LR must peak at base_lr exactly at step {spe} (end of warmup)"
        )


@pytest.mark.points(1)
def test_cosine_decays_monotonically_to_min_lr_at_the_end(schedule, rng):
    cfg, base_lr, spe, epochs = random_case(rng, decay="cosine")
    total, warmup = epochs * spe, round(cfg.warmup_epochs * spe)
    lrs = [schedule.lr_at(s, cfg, base_lr, spe, epochs) for s in range(warmup, total + 1)]
    assert all(b <= a + 1e-15 for a, b in zip(lrs, lrs[1:], strict=False)), "cosine decay never rises"
    assert lrs[-1] == pytest.approx(cfg.min_lr, rel=1e-6, abs=1e-12), "cosine ends at schedule.min_lr"


@pytest.mark.points(1)
def test_step_decay_multiplies_by_gamma_every_step_epochs(schedule, rng):
    cfg, base_lr, spe, epochs = random_case(rng, decay="step")
    cfg.warmup_epochs, cfg.min_lr, cfg.step_epochs = 0.0, 0.0, 2
    for k in range(epochs // 2):
        step = 2 * k * spe + rng.randrange(2 * spe)
        got = schedule.lr_at(step, cfg, base_lr, spe, epochs)
        assert got == pytest.approx(base_lr * cfg.step_gamma**k, rel=REL), f"step {step}: expected {k} drops"


def make_optimizer(base_lr: float) -> torch.optim.Optimizer:
    # Two parameter groups with different LRs, as finetuning uses (Assignment 4): the
    # schedule must scale each group, keeping their ratio.
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": base_lr / 10}], lr=base_lr)


@pytest.mark.points(2)
def test_scheduler_changes_the_lr_every_iteration_inside_an_epoch(schedule, rng):
    # Cases with >= 1 epoch of warmup from below base_lr: the LR rises at every step of the first epoch.
    case = rng.choice(SNAPSHOTS["scheduler"])
    cfg, base_lr, spe, epochs = settings(case)
    optimizer = make_optimizer(base_lr)
    scheduler = schedule.build_scheduler(optimizer, cfg, base_lr, spe, epochs)
    for step, want in zip(case["steps"], case["lrs"], strict=True):  # through the first epoch boundary
        lrs = [g["lr"] for g in optimizer.param_groups]
        assert lrs[0] == pytest.approx(want, rel=1e-6), (
            f"group 0 before step {step}: {lrs[0]}, expected {want} (steps_per_epoch={spe}, {cfg}, base_lr={base_lr})"
        )
        assert lrs[1] == pytest.approx(want / 10, rel=1e-6), "every parameter group follows the schedule"
        optimizer.step()
        scheduler.step()


@pytest.mark.points(2)
def test_scheduler_state_is_restored_on_resume(schedule, rng):
    cfg, base_lr, spe, epochs = random_case(rng)
    total = spe * epochs
    stop = rng.randrange(1, total - 1)

    def lrs_after(optimizer, scheduler, steps):
        out = []
        for _ in range(steps):
            optimizer.step()
            scheduler.step()
            out.append(optimizer.param_groups[0]["lr"])
        return out

    optimizer = make_optimizer(base_lr)
    scheduler = schedule.build_scheduler(optimizer, cfg, base_lr, spe, epochs)
    uninterrupted = lrs_after(optimizer, scheduler, min(total - 1, stop + 20))

    optimizer = make_optimizer(base_lr)
    scheduler = schedule.build_scheduler(optimizer, cfg, base_lr, spe, epochs)
    lrs_after(optimizer, scheduler, stop)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # checkpoints must load without unpickling code

    optimizer = make_optimizer(base_lr)
    scheduler = schedule.build_scheduler(optimizer, cfg, base_lr, spe, epochs)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    resumed = lrs_after(optimizer, scheduler, len(uninterrupted) - stop)
    assert resumed == pytest.approx(uninterrupted[stop:], rel=1e-12), f"resumed at step {stop}"


@pytest.mark.points(3)
@pytest.mark.timeout(180)
def test_training_run_logs_the_scheduled_lr_at_every_step(train_run, rng):
    case = rng.choice(SNAPSHOTS["training_run"])
    cfg, base_lr, spe, epochs = settings(case)
    run = train_run(
        "dataset.name=synthetic", f"train.epochs={epochs}", f"train.max_train_steps={spe}",
        "train.max_eval_steps=1", "data.num_workers=0", "logging.every_steps=1", f"optim.lr={base_lr}",
        *(f"schedule.{key}={value}" for key, value in case["schedule"].items()),
    ).check()  # fmt: skip
    steps = run.jsonl("steps.jsonl")
    assert [r["step"] for r in steps] == list(range(1, spe * epochs + 1)), "one record per step"
    want = dict(zip(case["steps"], case["lrs"], strict=True))
    for r in steps:  # record `step` n holds the LR that step n (0-based: n - 1) used
        expected = want[r["step"] - 1]
        assert r["lr"] == pytest.approx(expected, rel=1e-6), (
            f"logged lr at step {r['step']}: {r['lr']}, expected {expected} ({cfg}, optim.lr={base_lr})"
        )
    lrs = [r["lr"] for r in steps]
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(base_lr, rel=1e-6), "warmup from 0 to the peak"
