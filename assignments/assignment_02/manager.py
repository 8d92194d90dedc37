"""Assignment 2, part 2: the checkpoint manager — last, best, the last k, resume, early stop.

The trainer calls it at fixed places (starter/checkpoint.py's Checkpointer interface):

    restore(engine, state)            before training: continue from a checkpoint, or not
    on_step_end(engine, state)        after every step: mid-epoch saves (checkpoint.every_steps)
    on_epoch_end(engine, state, rec)  after each evaluation: last.pt, epoch_NNN.pt, best.pt
    should_stop(state)                early stopping (checkpoint.early_stop_patience)

Files, in `<run folder>/checkpoints/`: `last.pt` (always the newest), `best.pt` (best
`checkpoint.monitor` so far, by `checkpoint.mode`), `epoch_NNN.pt` (the last
`checkpoint.keep_last` epochs). Only the main process writes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from starter.config import Config
from starter.config_loader import to_dict
from starter.distributed import Distributed
from starter.engine import Engine
from starter.loop import LoopState
from starter.runfolder import read_jsonl, write_atomic

from .checkpoint import FORMAT, capture_rng, load_checkpoint, restore_rng, save_checkpoint


class EarlyStopping:
    """Tracks the best value of one metric; says stop after `patience` epochs without
    improvement (patience 0: never). Any strict improvement counts."""

    def __init__(self, mode: str, patience: int) -> None:
        self.mode, self.patience = mode, patience
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; True when it is the best so far."""
        raise NotImplementedError("A2: implement EarlyStopping.update in assignments/assignment_02/manager.py")

    def should_stop(self) -> bool:
        raise NotImplementedError("A2: implement EarlyStopping.should_stop in assignments/assignment_02/manager.py")

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


class CheckpointManager:
    def __init__(self, cfg: Config, run_dir: Path, dist: Distributed) -> None:
        self.cfg = cfg.checkpoint
        self.config = to_dict(cfg)
        self.run_dir, self.folder, self.dist = Path(run_dir), Path(run_dir) / "checkpoints", dist
        self.stopper = EarlyStopping(self.cfg.mode, self.cfg.early_stop_patience)

    def state(self, engine: Engine, loop: LoopState) -> dict:
        """The whole training state, as one weights_only-loadable dict (the layout the
        README documents; capture_rng is yours to write)."""
        return {
            "format": FORMAT,
            "engine": engine.state_dict(),
            "loop": loop.state_dict(),
            "rng": capture_rng(),
            "manager": self.stopper.state_dict(),
            "config": self.config,
            "metrics": loop.history[-1] if loop.history else {},
        }

    def restore(self, engine: Engine, state: LoopState) -> LoopState:
        """`checkpoint.resume`: auto (the run folder's last.pt, if any), none (start over),
        or a path. Returns the loop state to continue from."""
        raise NotImplementedError("A2: implement CheckpointManager.restore in assignments/assignment_02/manager.py")

    def on_step_end(self, engine: Engine, state: LoopState) -> None:
        raise NotImplementedError("A2: implement CheckpointManager.on_step_end in assignments/assignment_02/manager.py")

    def on_epoch_end(self, engine: Engine, state: LoopState, record: dict) -> None:
        raise NotImplementedError(
            "A2: implement CheckpointManager.on_epoch_end in assignments/assignment_02/manager.py"
        )

    def should_stop(self, state: LoopState) -> bool:
        return self.stopper.should_stop()

    def _save(self, state: dict, *names: str) -> None:
        """Write the first name, then copy it to the others, each atomically; main only."""
        if self.dist.is_main:
            first = self.folder / names[0]
            save_checkpoint(first, state)
            for name in names[1:]:
                tmp = self.folder / f".{name}.tmp-{os.getpid()}"
                shutil.copyfile(first, tmp)
                os.replace(tmp, self.folder / name)
        self.dist.barrier()  # nobody reads a checkpoint before it is complete

    def _trim_logs(self, loop: LoopState) -> None:
        """Keep only the records the restored state has seen, so an epoch re-run after a
        crash is not logged twice (and starting over clears the folder's old records)."""
        if not self.dist.is_main:
            return
        keep = {
            "metrics.jsonl": lambda r: r["epoch"] <= loop.epoch,
            "steps.jsonl": lambda r: r["step"] <= loop.global_step,
        }
        for name, wanted in keep.items():
            path = self.run_dir / name
            if path.is_file():
                kept = [r for r in read_jsonl(path) if wanted(r)]
                write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))


def build_checkpointer(cfg: Config, run_dir: Path, dist: Distributed) -> CheckpointManager:
    return CheckpointManager(cfg, run_dir, dist)
