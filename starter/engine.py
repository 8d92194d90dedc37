"""The training engine: the one object that owns forward, backward, step and their state.

The loop asks the engine for a training step and an evaluation step and never looks
inside. `PlainEngine` covers one device, DataParallel and DDP (the model it is given may
be wrapped) under any precision policy; Assignment 6 adds a DeepSpeed engine, whose
`deepspeed.initialize` owns the backward pass and the optimizer step, behind the same
interface (compare Lightning Fabric's strategies or Accelerate's accelerator).
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from starter.precision import PrecisionPolicy


class Engine(Protocol):
    model: nn.Module  # what the loop calls .train()/.eval() on (maybe wrapped)
    module: nn.Module  # the bare model: its state_dict has no "module." prefixes

    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step. Returns the batch's mean loss and its logits, detached."""
        ...

    def eval_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """No gradients. Returns the batch's summed loss (fp32) and its logits."""
        ...

    @property
    def lr(self) -> float: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class PlainEngine:
    def __init__(
        self,
        model: nn.Module,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: LRScheduler,
        precision: PrecisionPolicy,
    ) -> None:
        self.model, self.module = model, module
        self.optimizer, self.scheduler, self.precision = optimizer, scheduler, precision

    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            logits = self.model(inputs)
        # The loss is computed in fp32 whatever the forward's precision.
        loss = F.cross_entropy(logits.float(), targets)
        self.precision.backward(loss)
        self.precision.step(self.optimizer)
        self.scheduler.step()  # every iteration: warmup schedules change the LR within an epoch
        return loss.detach(), logits.detach()

    @torch.no_grad()
    def eval_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.precision.autocast():
            logits = self.model(inputs)
        return F.cross_entropy(logits.float(), targets, reduction="sum"), logits

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "precision": self.precision.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.precision.load_state_dict(state["precision"])
