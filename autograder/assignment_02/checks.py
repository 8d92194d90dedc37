"""Helpers shared by Assignment 2's graders (test_checkpoint.py, test_manager.py): a small
trained engine, recursive bit-exact equality, a manager built from overrides, and the
one-thread environment for child processes."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from starter.config import Config
from starter.engine import PlainEngine
from starter.models import CNNSimple
from starter.precision import FP32
from starter.schedule import build_scheduler

REPO = Path(__file__).resolve().parents[2]
QUICK = ("dataset.name=synthetic", "data.num_workers=0", "train.deterministic=true", "train.max_eval_steps=1")
# Child processes (training runs, crashing saves) use one CPU thread: a tiny CNN gains
# nothing from more, and on a shared 2-core machine OpenMP threads that spin-wait for a
# busy core make a run ~7x slower. Runs compared with each other all use the same setting.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def child_env() -> dict:
    return {**os.environ, **ONE_THREAD}


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


def epoch_record(epoch: int, **metrics: float) -> dict:
    """What the loop hands to on_epoch_end: the epoch's metrics (these, or placeholders)."""
    return {"epoch": epoch, "step": 10 * epoch, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0,
            "val_acc": 0.5, **metrics}  # fmt: skip


def draw_random_numbers() -> list:
    """The next numbers of every generator a training run draws from."""
    return [random.random(), np.random.rand(2).tolist(), np.random.normal(), torch.rand(3).tolist()]


def seed_all(rng: random.Random) -> None:
    random.seed(rng.random())
    np.random.seed(rng.randrange(2**32))
    torch.manual_seed(rng.randrange(2**32))
