"""Assignment 2 grader, part 2: the checkpoint manager. Resume restores the RNGs and the
early-stopping state; last, best and keep_last in real runs; a run really killed (SIGKILL)
mid-epoch resumes bit-exactly and logs every step once; early stopping; evaluation from a
checkpoint. Real runs of the trainer on the synthetic MNIST-like set in deterministic
mode. Inputs come from a per-submission seed (fixture `rng`). The file: test_checkpoint.py.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.assignment_02.checks import (
    ONE_THREAD,
    QUICK,
    REPO,
    assert_same,
    child_env,
    draw_random_numbers,
    epoch_record,
    manager,
    seed_all,
    trained_engine,
)
from starter.loop import LoopState
from starter.runfolder import read_jsonl


@pytest.fixture
def ck(impl_module):
    return impl_module("assignment_02.checkpoint")


@pytest.fixture
def mgr(impl_module):
    return impl_module("assignment_02.manager")


@pytest.fixture
def one_thread(monkeypatch):
    """Training subprocesses started by this test (train_run) use one thread."""
    for key, value in ONE_THREAD.items():
        monkeypatch.setenv(key, value)


# ---------------------------------------------------------------- the manager, through its interface


@pytest.mark.points(2)
def test_a_resume_restores_the_random_generators(mgr, rng, tmp_path):
    engine, fresh_engine = trained_engine(rng.randrange(10**6)), trained_engine(rng.randrange(10**6))
    epoch = rng.randint(1, 5)
    loop = LoopState(epoch=epoch, global_step=7 * epoch, history=[epoch_record(epoch)])
    seed_all(rng)
    manager(mgr, tmp_path, "checkpoint.enabled=true").on_epoch_end(engine, loop, epoch_record(epoch))
    expected = draw_random_numbers()  # what the run would have drawn next, had it not died
    seed_all(rng)  # a new process: other generator states
    restored = manager(mgr, tmp_path, "checkpoint.enabled=true").restore(fresh_engine, LoopState())
    got = draw_random_numbers()
    assert restored.global_step == loop.global_step, f"restore() returned step {restored.global_step}"
    assert got == expected, (
        "after restore(), the next random numbers (Python, NumPy, torch) differ from those the saved run would "
        "have drawn: restore the RNG states saved in the checkpoint (restore_rng) when resuming"
    )


@pytest.mark.points(2)
def test_a_resume_keeps_the_best_checkpoint_and_the_early_stopping_count(mgr, rng, tmp_path):
    mode, patience = rng.choice(["min", "max"]), rng.randint(2, 4)
    options = ("checkpoint.enabled=true", "checkpoint.monitor=val_loss", f"checkpoint.mode={mode}",
               f"checkpoint.early_stop_patience={patience}")  # fmt: skip
    best_epoch = rng.randint(1, 3)
    crash_after = rng.randint(best_epoch, best_epoch + patience - 1)  # the run dies before it would stop
    stop_epoch = best_epoch + patience
    best_value = round(rng.uniform(0.4, 0.6), 4)
    worse = -1 if mode == "max" else 1
    values = {e: best_value if e == best_epoch else round(best_value + worse * rng.uniform(0.01, 0.3), 4)
              for e in range(1, stop_epoch + 1)}  # fmt: skip
    engine = trained_engine(rng.randrange(10**6))
    history: list[dict] = []

    def end_epoch(checkpointer, epoch: int) -> bool:
        record = epoch_record(epoch, val_loss=values[epoch])
        history.append(record)
        loop = LoopState(epoch=epoch, global_step=10 * epoch, history=list(history))
        checkpointer.on_epoch_end(engine, loop, record)
        return checkpointer.should_stop(loop)

    first = manager(mgr, tmp_path, *options)
    for epoch in range(1, crash_after + 1):
        end_epoch(first, epoch)
    second = manager(mgr, tmp_path, *options)  # a new process after the crash
    restored = second.restore(engine, LoopState())
    assert restored.epoch == crash_after, f"restore() returned epoch {restored.epoch}; last.pt holds {crash_after}"
    story = (f"val_loss ({mode}) per epoch {[values[e] for e in range(1, stop_epoch + 1)]}, patience {patience}, "
             f"restarted after epoch {crash_after}")  # fmt: skip
    for epoch in range(crash_after + 1, stop_epoch + 1):
        stop = end_epoch(second, epoch)
        best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["loop"]["epoch"]
        assert best == best_epoch, (
            f"{story}: best.pt was replaced by epoch {best} after the restart, though epoch {best_epoch} was "
            "better: restore the early-stopping state (best value, best epoch, epochs without improvement)"
        )
        assert stop == (epoch == stop_epoch), (
            f"{story}: should_stop after epoch {epoch} is {stop}: the count of epochs without improvement must "
            "survive the restart (restore the early-stopping state)"
        )


@pytest.mark.points(2)
def test_early_stopping_counts_epochs_without_improvement(mgr, rng):
    for _ in range(20):
        mode, patience = rng.choice(["min", "max"]), rng.randint(1, 4)
        values = [round(rng.uniform(0, 1), 1) for _ in range(15)]  # rounding makes ties
        stopper = mgr.EarlyStopping(mode, patience)
        best, bad, expected_stop = None, 0, None
        for epoch, value in enumerate(values, start=1):
            better = best is None or (value > best if mode == "max" else value < best)
            best, bad = (value, 0) if better else (best, bad + 1)
            assert stopper.update(value, epoch) == better, f"{mode} {values[:epoch]}: is epoch {epoch} an improvement?"
            if bad >= patience:
                expected_stop = epoch
                break
            assert not stopper.should_stop(), f"stopped too early at epoch {epoch}: {values[:epoch]}"
        assert stopper.should_stop() == (expected_stop is not None)


# ---------------------------------------------------------------- the manager, in real runs


@pytest.mark.points(3)
@pytest.mark.timeout(240)
def test_last_and_best_are_in_the_run_folder_and_best_is_the_right_epoch(ck, train_run, rng, one_thread):
    monitor, mode = rng.choice([("val_acc", "max"), ("val_loss", "min"), ("train_loss", "min"), ("val_loss", "max")])
    epochs = 4
    run = train_run(*QUICK, f"train.epochs={epochs}", "train.max_train_steps=6", f"optim.lr={rng.uniform(0.01, 0.05)}",
                    "checkpoint.enabled=true", f"checkpoint.monitor={monitor}", f"checkpoint.mode={mode}",
                    "checkpoint.keep_last=2").check()  # fmt: skip
    folder = run.run_dir / "checkpoints"
    assert (folder / "last.pt").is_file() and (folder / "best.pt").is_file()
    values = [r[monitor] for r in run.jsonl("metrics.jsonl")]
    best_value = max(values) if mode == "max" else min(values)
    best_epoch = values.index(best_value) + 1  # the first epoch that reached it
    best = ck.load_checkpoint(folder / "best.pt")
    last = ck.load_checkpoint(folder / "last.pt")
    assert best["loop"]["epoch"] == best_epoch, f"{monitor} ({mode}) per epoch: {values}"
    assert last["loop"]["epoch"] == epochs
    kept = sorted(p.name for p in folder.glob("epoch_*.pt"))
    expected = [f"epoch_{epochs - 1:03d}.pt", f"epoch_{epochs:03d}.pt"]
    assert kept == expected, (
        f"keep_last=2 keeps the last two epochs, named by the 1-based epoch number (record['epoch']): "
        f"expected {expected}, found {kept}"
    )
    for name in kept:
        held = ck.load_checkpoint(folder / name)["loop"]["epoch"]
        assert held == int(name[6:9]), f"{name} holds the state after epoch {held}"


# The trainer, with a model that draws from torch's global RNG at every step (dropout), so
# a resume that does not restore the RNG diverges; it kills itself (SIGKILL) as step
# `kill_at` begins, after step kill_at - 1 and everything the trainer does after it
# (on_step_end included) is done: a crash at an exact step, not a race. kill_at=0: never.
KILLABLE_TRAINER = """\
import os, signal, sys

from torch import nn

from starter.errors import run_cli
from starter.models import CNNSimple
from starter.train import configure, train

KILL_AT = int(sys.argv[1])


class DropoutCNN(CNNSimple):
    steps = 0  # training forward passes in this process

    def forward(self, x):
        if self.training:
            DropoutCNN.steps += 1
            if DropoutCNN.steps == KILL_AT:
                os.kill(os.getpid(), signal.SIGKILL)
        return self.classifier(nn.functional.dropout(self.features(x), 0.3, self.training))


def main(argv):
    train(configure(argv), replace={"model": DropoutCNN})
    return 0


sys.exit(run_cli(main, sys.argv[2:]))
"""
_KILLED_RUNS: dict[tuple[str, int], dict] = {}


def killed_and_resumed_run(impl: str, rng: random.Random, tmp: Path) -> dict:
    """One uninterrupted run and one run SIGKILLed inside epoch 2, then relaunched in its
    folder (checkpoint.resume=auto). Shared by the parametrizations of the test below,
    which have the same seed; a failure is returned as `error`."""
    epochs, steps, every = 3, 16, rng.randint(3, 6)
    # Kill with at least `every` steps of epoch 2 done, and never just after a save
    # (counting steps from the run's start or from the epoch's), so steps must be replayed.
    done = rng.choice([d for d in range(steps + every, 2 * steps) if d % every and (d - steps) % every])
    scenario = {"epochs": epochs, "steps": steps, "every": every, "done": done, "error": None,
                "whole": tmp / "whole", "killed": tmp / "killed"}  # fmt: skip
    overrides = [*QUICK, f"course.impl={impl}", f"train.epochs={epochs}", f"train.max_train_steps={steps}",
                 "checkpoint.enabled=true", f"checkpoint.every_steps={every}", "logging.every_steps=1",
                 f"train.seed={rng.randrange(1000)}"]  # fmt: skip

    def launch(folder: Path, kill_at: int) -> subprocess.Popen:
        cmd = [sys.executable, "-c", KILLABLE_TRAINER, str(kill_at), "--configs", str(REPO / "assets" / "configs.yml"),
               "--override_args", *overrides, f"run.folder={folder}"]  # fmt: skip
        env = {**child_env(), "PYTHONPATH": str(REPO)}
        return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def finish(child: subprocess.Popen) -> str:
        """Wait for `child` (ending it after 200 s); its stderr."""
        try:
            return child.communicate(timeout=200)[1]
        except subprocess.TimeoutExpired:
            child.kill()
            return child.communicate()[1] + "\n(ended after 200 s)"

    def failed(what: str, child: subprocess.Popen, stderr: str) -> dict:
        lines = stderr.strip().splitlines() or ["(no output)"]
        scenario["error"] = f"{what} exited with {child.returncode}: {lines[-1]}\n" + "\n".join(lines[-6:])
        return scenario

    whole, killed = launch(scenario["whole"], 0), launch(scenario["killed"], done + 1)
    whole_err, killed_err = finish(whole), finish(killed)
    if whole.returncode != 0:
        return failed("the uninterrupted run", whole, whole_err)
    if killed.returncode != -signal.SIGKILL:
        return failed(f"the run to be killed at step {done + 1}", killed, killed_err)
    last = scenario["killed"] / "checkpoints" / "last.pt"
    try:  # the step of the checkpoint the relaunched run will start from
        scenario["saved_step"] = torch.load(last, weights_only=True)["loop"]["global_step"]
    except Exception as err:
        scenario["saved_step"] = f"no loadable last.pt ({type(err).__name__}: {str(err)[:200]})"
    resumed = launch(scenario["killed"], 0)
    resumed_err = finish(resumed)
    if resumed.returncode != 0:
        return failed("the relaunched run", resumed, resumed_err)
    return scenario


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "what",
    [
        pytest.param("mid_epoch_checkpoint", marks=pytest.mark.points(2), id="has_a_mid_epoch_checkpoint"),
        pytest.param("identical", marks=pytest.mark.points(3), id="ends_with_identical_weights_and_metrics"),
        pytest.param("logs", marks=pytest.mark.points(1), id="logs_every_step_and_epoch_exactly_once"),
    ],
)
def test_a_run_killed_mid_epoch_and_resumed(what, ck, impl, grader_seed, rng, tmp_path_factory):
    key = (impl, grader_seed)
    if key not in _KILLED_RUNS:
        _KILLED_RUNS[key] = killed_and_resumed_run(impl, rng, tmp_path_factory.mktemp("killed-run"))
    run = _KILLED_RUNS[key]
    if run["error"]:
        pytest.fail(run["error"], pytrace=False)
    epochs, steps, every, done = run["epochs"], run["steps"], run["every"], run["done"]
    killed = f"killed after step {done} (epoch 2 began after step {steps}; checkpoint.every_steps={every})"
    if what == "mid_epoch_checkpoint":
        saved = run["saved_step"]
        assert isinstance(saved, int) and steps < saved <= done and done - saved < every, (
            f"{killed}: last.pt held step {saved}. Save last.pt every checkpoint.every_steps steps (on_step_end), "
            f"so that a crash loses fewer than every_steps steps"
        )
    elif what == "identical":
        a = ck.load_checkpoint(run["whole"] / "checkpoints" / "last.pt")
        b = ck.load_checkpoint(run["killed"] / "checkpoints" / "last.pt")
        ends = (a["loop"]["global_step"], b["loop"]["global_step"])
        assert ends == (epochs * steps,) * 2, f"{killed}: the runs ended at steps {ends}, not {epochs * steps}"
        assert_same(a["engine"]["model"], b["engine"]["model"], f"{killed}, then resumed: the weights")
        assert_same(a["engine"], b["engine"], f"{killed}, then resumed: the engine state")
        metrics, reference = read_jsonl(run["killed"] / "metrics.jsonl"), read_jsonl(run["whole"] / "metrics.jsonl")
        assert len(metrics) == len(reference) == epochs, f"{killed}: metrics.jsonl has {len(metrics)} records"
        for m, r in zip(metrics, reference, strict=True):
            assert (m["train_loss"], m["val_loss"]) == (r["train_loss"], r["val_loss"]), f"epoch {m['epoch']} metrics"
    else:
        logged = [r["step"] for r in read_jsonl(run["killed"] / "steps.jsonl")]
        total = epochs * steps
        missing = sorted(set(range(1, total + 1)) - set(logged))
        doubled = sorted({s for s in logged if logged.count(s) > 1})
        assert logged == list(range(1, total + 1)), (
            f"{killed}, then resumed: steps.jsonl should hold steps 1..{total} once each, in order; missing "
            f"{missing}, logged twice {doubled}. On resume keep exactly the records of the steps the checkpoint "
            "has seen"
        )
        epochs_logged = [r["epoch"] for r in read_jsonl(run["killed"] / "metrics.jsonl")]
        assert epochs_logged == list(range(1, epochs + 1)), f"{killed}: metrics.jsonl epochs {epochs_logged}"


@pytest.mark.points(2)
@pytest.mark.timeout(240)
def test_early_stopping_ends_a_real_run_at_the_right_epoch(train_run, rng, one_thread):
    patience = rng.randint(1, 3)
    # optim.lr=0: nothing learns, so val_loss never improves after epoch 1 (CNNSimple
    # has no batch norm whose statistics could move).
    run = train_run(*QUICK, "train.epochs=8", "train.max_train_steps=3", "optim.lr=0",
                    "checkpoint.monitor=val_loss", "checkpoint.mode=min",
                    f"checkpoint.early_stop_patience={patience}").check()  # fmt: skip
    epochs = [r["epoch"] for r in run.jsonl("metrics.jsonl")]
    assert epochs == list(range(1, patience + 2)), f"patience {patience}: ran epochs {epochs}"


@pytest.mark.points(2)
@pytest.mark.timeout(240)
def test_evaluate_reproduces_the_accuracy_logged_for_the_checkpoint(impl, train_run, rng, one_thread):
    run = train_run("dataset.name=synthetic", "data.num_workers=0", "train.epochs=2", "train.max_train_steps=15",
                    "checkpoint.enabled=true", f"train.seed={rng.randrange(1000)}").check()  # fmt: skip
    metrics = run.jsonl("metrics.jsonl")
    best = max(metrics, key=lambda r: r["val_acc"])  # checkpoint.monitor=val_acc by default
    done = subprocess.run([sys.executable, str(REPO / "starter" / "evaluate.py"), str(run.run_dir), "--impl", impl,
                           "--json"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["val_images"] == best["val_images"] and result["val_acc"] == best["val_acc"]
    assert result["val_loss"] == pytest.approx(best["val_loss"], rel=1e-6)
