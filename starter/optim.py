"""The optimizer, built from `optim.*`. Parameters may be one iterable or a list of
parameter groups (Assignment 4 gives the backbone a smaller LR and norms no decay)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from starter.config import OptimConfig


def build_optimizer(cfg: OptimConfig, params: Iterable) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
