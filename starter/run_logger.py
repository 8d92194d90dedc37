"""The logging seam: where metrics go while training runs.

The starter prints one line per epoch and appends one JSON object per epoch to the run
folder's `metrics.jsonl` (and, with `logging.every_steps=N`, per-step records to
`steps.jsonl`). Those files are the contract the autograder and later assignments read.
Assignment 8 adds Python logging to a file, Weights & Biases, TensorBoard and plots on
top of it. Only the main process writes anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from starter.config import Config
from starter.distributed import Distributed


class RunLogger(Protocol):
    def log_step(self, record: dict) -> None: ...

    def log_epoch(self, record: dict) -> None: ...

    def close(self, summary: dict) -> None: ...


class JsonlLogger:
    """Console lines plus metrics.jsonl / steps.jsonl, flushed line by line so a crash
    loses at most the line being written."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self.run_dir = run_dir
        self._files = {}

    def _append(self, name: str, record: dict) -> None:
        if name not in self._files:
            self._files[name] = open(self.run_dir / name, "a", encoding="utf-8")
        f = self._files[name]
        f.write(json.dumps(record) + "\n")
        f.flush()

    def log_step(self, record: dict) -> None:
        if self.enabled:
            self._append("steps.jsonl", record)

    def log_epoch(self, record: dict) -> None:
        if not self.enabled:
            return
        self._append("metrics.jsonl", record)
        print(format_epoch(record), flush=True)

    def close(self, summary: dict) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def format_epoch(r: dict) -> str:
    return (
        f"epoch {r['epoch']:>3}  train_loss {r['train_loss']:.4f}  train_acc {100 * r['train_acc']:6.2f}%  "
        f"val_loss {r['val_loss']:.4f}  val_acc {100 * r['val_acc']:6.2f}%  lr {r['lr']:.2e}  "
        f"{r['epoch_seconds']:6.1f}s  {r['images_per_second']:,.0f} img/s  "
        f"data wait {100 * r['data_wait_share']:.0f}%"
    )


def build_logger(cfg: Config, run_dir: Path, dist: Distributed, impl=None) -> RunLogger:
    """`impl`: Assignment 8's build_logger(cfg, run_dir, dist, base), which may extend `base`."""
    base = JsonlLogger(run_dir, enabled=dist.is_main)
    return base if impl is None else impl(cfg, run_dir, dist, base)
