"""The one training loop of the course.

It is written once and never copied: every assignment changes what the engine, the
loaders, the logger or the checkpointer do, not this file. Per epoch it trains, then
evaluates on the whole test set, then hands one record to the logger and the
checkpointer. Metrics are summed over batches (and over processes) and divided once,
so they are exact for any batch size or number of ranks.
"""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from starter.checkpoint import Checkpointer
from starter.distributed import Distributed
from starter.engine import Engine
from starter.loaders import Loaders
from starter.run_logger import RunLogger


@dataclass
class LoopState:
    """Where training is; everything a resume needs besides the engine's state."""

    epoch: int = 0  # epochs completed
    global_step: int = 0  # optimizer steps taken
    batch_in_epoch: int = 0  # batches of the current epoch already trained on
    history: list[dict] = field(default_factory=list)  # the per-epoch records so far
    # This epoch's running training sums (loss x images, correct, images), kept on the
    # device, so an epoch resumed midway still reports the metrics of all its batches.
    train_sums: torch.Tensor = field(default_factory=lambda: torch.zeros(3, dtype=torch.float64))

    def state_dict(self) -> dict:
        """Plain values and a CPU tensor: loadable with torch.load(weights_only=True)."""
        return {**{k: v for k, v in self.__dict__.items() if k != "train_sums"}, "train_sums": self.train_sums.cpu()}

    @classmethod
    def from_state_dict(cls, state: dict) -> LoopState:
        return cls(**state)


@dataclass
class LoopLimits:
    epochs: int
    max_train_steps: int = 0  # per epoch; 0: no limit
    max_eval_steps: int = 0
    every_steps: int = 0  # per-step records; 0: none


@dataclass
class Timing:
    first_step_at: float | None = None  # time.perf_counter() when the first step finished


def fit(
    engine: Engine,
    loaders: Loaders,
    dist: Distributed,
    logger: RunLogger,
    checkpointer: Checkpointer,
    limits: LoopLimits,
    state: LoopState,
    timing: Timing | None = None,
) -> LoopState:
    timing = timing or Timing()
    for epoch in range(state.epoch, limits.epochs):
        loaders.set_epoch(epoch, skip_batches=state.batch_in_epoch)
        started = time.perf_counter()
        train = train_one_epoch(engine, loaders, dist, logger, checkpointer, limits, state, timing)
        train_seconds = time.perf_counter() - started
        val = evaluate(engine, loaders.test, dist, limits.max_eval_steps)
        record = {
            "epoch": epoch + 1,
            "step": state.global_step,
            **train,
            **val,
            "lr": engine.lr,  # the LR at the end of the epoch
            "epoch_seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
            "images_per_second": train["train_images"] / max(train_seconds, 1e-9),
            "data_wait_share": train["data_wait_seconds"] / max(train_seconds, 1e-9),
        }
        state.epoch, state.batch_in_epoch = epoch + 1, 0
        state.history.append(record)
        logger.log_epoch(record)
        checkpointer.on_epoch_end(engine, state, record)
        if checkpointer.should_stop(state):
            break
    return state


def epoch_length(steps_per_epoch: int, max_train_steps: int) -> int:
    """Optimizer steps in one epoch, after the quick-test limit `train.max_train_steps`.
    The LR schedule is laid out over these, so a shortened run sees the whole schedule."""
    return min(max_train_steps or steps_per_epoch, steps_per_epoch)


def train_one_epoch(
    engine: Engine,
    loaders: Loaders,
    dist: Distributed,
    logger: RunLogger,
    checkpointer: Checkpointer,
    limits: LoopLimits,
    state: LoopState,
    timing: Timing,
) -> dict:
    engine.model.train()
    device = dist.device
    total = epoch_length(loaders.steps_per_epoch, limits.max_train_steps)
    # On resume inside an epoch the loader already starts after the batches trained on
    # (Loaders.set_epoch): the order is a function of (seed, epoch), so these are exactly
    # the unseen ones.
    batches = itertools.islice(iter(loaders.train), max(0, total - state.batch_in_epoch))
    # Sums stay on the device: no host synchronisation per step. float64: exact counts.
    if state.batch_in_epoch == 0:
        state.train_sums = torch.zeros(3, dtype=torch.float64)
    sums = state.train_sums = state.train_sums.to(device)
    wait = 0.0
    bar = progress(total, initial=state.batch_in_epoch, desc=f"epoch {state.epoch + 1}", dist=dist)
    tick = time.perf_counter()
    for inputs, targets in batches:
        wait += time.perf_counter() - tick
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        lr = engine.lr  # the LR this step uses (the scheduler steps inside train_step)
        loss, logits = engine.train_step(inputs, targets)
        n = targets.numel()
        sums += torch.stack([loss.double() * n, (logits.argmax(dim=1) == targets).sum().double(),
                             torch.tensor(float(n), dtype=torch.float64, device=device)])  # fmt: skip
        state.global_step += 1
        state.batch_in_epoch += 1
        if timing.first_step_at is None:
            timing.first_step_at = time.perf_counter()
        if limits.every_steps and state.global_step % limits.every_steps == 0:
            # step: steps done, counting this one; epoch: fractional progress.
            progress_in_epochs = state.epoch + state.batch_in_epoch / total
            logger.log_step({"step": state.global_step, "epoch": progress_in_epochs, "loss": loss.item(), "lr": lr})
        checkpointer.on_step_end(engine, state)
        bar.update()
        tick = time.perf_counter()
    bar.close()
    loss_total, correct_total, seen_total = dist.all_reduce_sum(sums.clone()).tolist()
    return {
        "train_loss": loss_total / max(seen_total, 1),
        "train_acc": correct_total / max(seen_total, 1),
        "train_images": int(seen_total),
        "data_wait_seconds": wait,
    }


@torch.no_grad()
def evaluate(engine: Engine, loader, dist: Distributed, max_steps: int = 0, desc: str | None = None) -> dict:
    """Loss and accuracy over the test set (or its first `max_steps` batches);
    `desc`: show a progress bar with this label."""
    engine.model.eval()
    device = dist.device
    sums = torch.zeros(3, device=device)  # summed loss, correct, images
    batches = itertools.islice(loader, max_steps or None)
    if desc:
        total = min(max_steps or len(loader), len(loader))
        batches = progress(total, initial=0, desc=desc, dist=dist, iterable=batches)
    for inputs, targets in batches:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        loss_sum, logits = engine.eval_step(inputs, targets)
        sums += torch.stack(
            [
                loss_sum.float(),
                (logits.argmax(dim=1) == targets).sum().float(),
                torch.tensor(float(targets.numel()), device=device),
            ]
        )
    loss_total, correct_total, seen_total = dist.all_reduce_sum(sums).tolist()
    return {
        "val_loss": loss_total / max(seen_total, 1),
        "val_acc": correct_total / max(seen_total, 1),
        "val_images": int(seen_total),
    }


def progress(total: int, initial: int, desc: str, dist: Distributed, iterable=None) -> tqdm:
    """A progress bar on the main process when stderr is a terminal; silent otherwise
    (logs of batch jobs and CI stay readable)."""
    quiet = not (dist.is_main and sys.stderr.isatty())
    return tqdm(iterable, total=total, initial=initial, desc=desc, leave=False, disable=quiet, dynamic_ncols=True)
