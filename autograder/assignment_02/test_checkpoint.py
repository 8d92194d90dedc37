"""Assignment 2 grader: checkpoints that survive crashes, resume bit-exactly, never run
code when loaded; the best model, early stopping, and evaluation from a checkpoint.

Real runs of starter/train.py on the synthetic MNIST-like set in deterministic mode; a
process really killed (SIGKILL) mid-epoch; a really malicious pickle. Inputs come from a
per-submission seed (fixture `rng`).
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from starter.config import Config
from starter.engine import PlainEngine
from starter.errors import CourseError
from starter.loop import LoopState
from starter.models import CNNSimple
from starter.precision import FP32
from starter.runfolder import read_jsonl
from starter.schedule import build_scheduler

REPO = Path(__file__).resolve().parents[2]
QUICK = ("dataset.name=synthetic", "data.num_workers=0", "train.deterministic=true", "train.max_eval_steps=1")


@pytest.fixture
def ck(impl_module):
    return impl_module("assignment_02.checkpoint")


@pytest.fixture
def mgr(impl_module):
    return impl_module("assignment_02.manager")


def trained_engine(seed: int, steps: int = 3) -> PlainEngine:
    """A small engine whose optimizer has state (Adam moments) after a few real steps."""
    torch.manual_seed(seed)
    model = CNNSimple()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    engine = PlainEngine(model, model, optimizer, build_scheduler(optimizer, Config(), 10), FP32())
    for _ in range(steps):
        engine.train_step(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    return engine


def assert_same(a, b, where: str = "state") -> None:
    """Recursive equality: tensors bit for bit, containers element by element."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def manager(mgr, tmp_path: Path, *overrides: str):
    from starter.config_loader import apply_override
    from starter.distributed import SingleProcess

    cfg = Config()
    for item in overrides:
        apply_override(cfg, item)
    return mgr.build_checkpointer(cfg, tmp_path, SingleProcess(torch.device("cpu")))


# ---------------------------------------------------------------- the file


@pytest.mark.points(3)
def test_save_and_load_round_trip_every_part_of_the_state(ck, mgr, rng, tmp_path):
    engine = trained_engine(rng.randrange(10**6), steps=rng.randint(1, 4))
    loop = LoopState(epoch=rng.randint(1, 9), global_step=rng.randint(10, 999), batch_in_epoch=rng.randint(0, 9),
                     history=[{"epoch": 1, "val_acc": rng.random()}])  # fmt: skip
    state = manager(mgr, tmp_path, "checkpoint.enabled=true").state(engine, loop)
    assert {"engine", "loop", "rng", "config"} <= set(state), "see the checkpoint layout in the README"
    assert {"model", "optimizer", "scheduler", "precision"} <= set(state["engine"])
    state["scaler"] = torch.amp.GradScaler("cpu", init_scale=2.0 ** rng.randint(4, 16)).state_dict()
    path = tmp_path / "checkpoints" / "x.pt"
    ck.save_checkpoint(path, state)
    loaded = ck.load_checkpoint(path)
    assert_same(state, loaded)
    assert loaded["loop"]["global_step"] == loop.global_step and loaded["config"]["checkpoint"]["enabled"] is True


@pytest.mark.points(2)
def test_rng_states_restore_exactly(ck, rng, tmp_path):
    random.seed(rng.random())
    np.random.seed(rng.randrange(2**32))
    torch.manual_seed(rng.randrange(2**32))
    np.random.normal()  # leaves a cached Gaussian in NumPy's state
    captured = ck.capture_rng()
    path = tmp_path / "rng.pt"
    torch.save(captured, path)
    first = (random.random(), np.random.rand(3).tolist(), np.random.normal(), torch.rand(3))
    ck.restore_rng(torch.load(path, weights_only=True))  # RNG states must be weights_only-safe
    again = (random.random(), np.random.rand(3).tolist(), np.random.normal(), torch.rand(3))
    assert first[:3] == again[:3] and torch.equal(first[3], again[3]), "the next random numbers must repeat"


@pytest.mark.points(3)
def test_a_save_that_crashes_midway_leaves_the_previous_checkpoint(ck, rng, tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ck.save_checkpoint(path, {"probe": torch.arange(rng.randint(5, 50))})
    before = path.read_bytes()
    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):  # the disk fills up halfway through
        buffer = io.BytesIO()
        real_save(obj, buffer)
        data = buffer.getvalue()[: rng.randint(10, 200)]
        if isinstance(f, (str, os.PathLike)):
            Path(f).write_bytes(data)
        else:
            f.write(data)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError):
        ck.save_checkpoint(path, {"probe": torch.zeros(1000)})
    monkeypatch.undo()
    assert path.read_bytes() == before, "the previous checkpoint must be untouched by a failed save"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert not leftovers, f"a failed save must not leave partial files behind: {leftovers}"


@pytest.mark.points(2)
@pytest.mark.timeout(120)
def test_a_process_killed_while_saving_never_leaves_a_corrupt_checkpoint(ck, impl, rng, tmp_path):
    path = tmp_path / "last.pt"
    script = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        f"from {impl}.assignment_02.checkpoint import save_checkpoint\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        f"    save_checkpoint({str(path)!r}, {{'i': i, 'w': torch.full((2_000_000,), float(i))}})\n"
        "    print(i, flush=True)\n"
    )
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)  # fmt: skip
        if not child.stdout.readline():  # wait until one complete save exists
            pytest.fail(f"the saving process failed: {child.stderr.read().strip().splitlines()[-1]}", pytrace=False)
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = torch.load(path, weights_only=True)
        assert torch.all(state["w"] == state["i"]), "the checkpoint mixes two saves"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".pt")] == ["last.pt"]


@pytest.mark.points(3)
def test_loading_never_executes_code_from_the_file(ck, rng, tmp_path):
    marker = tmp_path / f"pwned-{rng.randrange(10**9)}"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "dl-course-checkpoint/1", "engine": Payload()}, evil)
    with pytest.raises(CourseError) as info:
        ck.load_checkpoint(evil)
    assert not marker.exists(), "loading the checkpoint ran the code inside it"
    assert str(evil) in str(info.value), "the error names the file"


@pytest.mark.points(2)
def test_truncated_or_foreign_files_give_a_clear_error_naming_the_path(ck, mgr, rng, tmp_path):
    good = tmp_path / "good.pt"
    ck.save_checkpoint(good, manager(mgr, tmp_path).state(trained_engine(1), LoopState()))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: int(len(data) * rng.uniform(0.1, 0.9))])
    text = tmp_path / "notes.pt"
    text.write_text("this is not a checkpoint\n")
    weights_only = tmp_path / "weights.pt"
    torch.save(CNNSimple().state_dict(), weights_only)  # a PyTorch file, but not a checkpoint
    for path in (truncated, text, weights_only, tmp_path / "missing.pt"):
        with pytest.raises(CourseError) as info:
            ck.load_checkpoint(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, f"{path.name}: {message!r}"


@pytest.mark.points(2)
def test_weights_of_a_wrapped_model_load_into_a_bare_model(ck, rng):
    torch.manual_seed(rng.randrange(10**6))
    source = CNNSimple()
    plain = source.state_dict()
    wrapped = {
        "DataParallel": nn.DataParallel(source).state_dict(),
        "DDP": {f"module.{k}": v for k, v in plain.items()},  # what DistributedDataParallel saves
        "torch.compile": {f"_orig_mod.{k}": v for k, v in plain.items()},
        "DDP(compile)": {f"module._orig_mod.{k}": v for k, v in plain.items()},
    }
    for name, state in wrapped.items():
        bare = CNNSimple()
        ck.load_model_weights(bare, state)
        for key, value in bare.state_dict().items():
            assert torch.equal(value, plain[key]), f"{name}: {key} was not loaded"


# ---------------------------------------------------------------- the manager, in real runs


@pytest.mark.points(3)
@pytest.mark.timeout(240)
def test_last_and_best_are_in_the_run_folder_and_best_is_the_right_epoch(ck, train_run, rng):
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
    assert kept == [f"epoch_{epochs - 1:03d}.pt", f"epoch_{epochs:03d}.pt"], "keep_last=2 keeps the last two"


@pytest.mark.points(5)
@pytest.mark.timeout(300)
def test_a_run_killed_mid_training_resumes_to_identical_weights(ck, impl, rng, tmp_path):
    epochs, steps = 3, 20
    overrides = [*QUICK, f"course.impl={impl}", f"train.epochs={epochs}", f"train.max_train_steps={steps}",
                 "checkpoint.enabled=true", f"checkpoint.every_steps={rng.randint(3, 7)}", "logging.every_steps=1",
                 f"train.seed={rng.randrange(1000)}"]  # fmt: skip

    def command(folder: Path) -> list[str]:
        return [sys.executable, str(REPO / "starter" / "train.py"), "--configs", str(REPO / "assets" / "configs.yml"),
                "--override_args", *overrides, f"run.folder={folder}"]  # fmt: skip

    whole = subprocess.run(command(tmp_path / "whole"), capture_output=True, text=True, timeout=200)
    assert whole.returncode == 0, whole.stderr[-2000:]

    folder = tmp_path / "killed"
    kill_at = rng.randint(steps + 2, 2 * steps - 2)  # inside the second epoch
    child = subprocess.Popen(command(folder), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 200
    while time.time() < deadline and child.poll() is None:
        log = folder / "steps.jsonl"
        if log.is_file() and len(log.read_text().splitlines()) >= kill_at:
            break
        time.sleep(0.02)
    assert child.poll() is None, f"the run ended before it could be killed: {child.stderr.read()[-1000:]}"
    child.send_signal(signal.SIGKILL)
    child.wait()
    resumed = subprocess.run(command(folder), capture_output=True, text=True, timeout=200)  # resume=auto
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    a = ck.load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = ck.load_checkpoint(folder / "checkpoints" / "last.pt")
    assert_same(a["engine"]["model"], b["engine"]["model"], f"weights after a kill at step {kill_at}")
    assert_same(a["engine"]["optimizer"], b["engine"]["optimizer"], "optimizer state")
    assert a["loop"]["global_step"] == b["loop"]["global_step"] == epochs * steps
    metrics = read_jsonl(folder / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == list(range(1, epochs + 1)), "each epoch logged once"
    reference = read_jsonl(tmp_path / "whole" / "metrics.jsonl")
    for m, r in zip(metrics, reference, strict=True):
        assert (m["train_loss"], m["val_loss"]) == (r["train_loss"], r["val_loss"]), f"epoch {m['epoch']} metrics"


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


@pytest.mark.points(2)
@pytest.mark.timeout(240)
def test_early_stopping_ends_a_real_run_at_the_right_epoch(train_run, rng):
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
def test_evaluate_reproduces_the_accuracy_logged_for_the_checkpoint(impl, train_run, rng):
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
