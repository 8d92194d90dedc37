"""The learning-rate seam: a scheduler stepped once per optimizer step (per iteration).

The starter keeps the LR constant. Assignment 7 (`schedule.warmup_epochs`,
`schedule.decay`) replaces it with linear warmup and cosine or step decay; because the
loop steps the scheduler every iteration, a warmup of a fraction of an epoch works too.
"""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from starter.config import Config


def constant(step: int) -> float:
    """LR multiplier at `step`: always 1 (a module-level function, so it pickles)."""
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Config, steps_per_epoch: int, impl=None) -> LRScheduler:
    """`impl`: Assignment 7's build_scheduler(optimizer, schedule_cfg, base_lr,
    steps_per_epoch, epochs), when warmup or decay is set."""
    if impl is None:
        return LambdaLR(optimizer, lr_lambda=constant)
    return impl(optimizer, cfg.schedule, cfg.optim.lr, steps_per_epoch, cfg.train.epochs)
