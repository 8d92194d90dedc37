"""The precision seam: how a training step runs its forward, backward and optimizer step.

The starter trains in fp32: no autocast, a plain backward, every step taken. Assignment 9
(`precision.name=fp16|bf16`) replaces it with autocast and, for fp16, dynamic loss
scaling that skips a step whose gradients overflowed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import torch

from starter.config import Config


class PrecisionPolicy(Protocol):
    name: str

    def autocast(self) -> AbstractContextManager: ...

    def backward(self, loss: torch.Tensor) -> None: ...

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Take the optimizer step; False when it was skipped (e.g. inf gradients)."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class FP32:
    """Full precision: the no-op policy."""

    name = "fp32"

    def autocast(self) -> AbstractContextManager:
        return nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        optimizer.step()
        return True

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def build_precision(cfg: Config, device: torch.device, impl=None) -> PrecisionPolicy:
    """`impl`: Assignment 9's build_precision(precision_cfg, device), when selected."""
    return FP32() if impl is None else impl(cfg.precision, device)
