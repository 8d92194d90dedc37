"""Bring a trained model back from a checkpoint: its config, dataset and weights.

Shared by `starter/evaluate.py` and `starter/predict.py`. Reading the checkpoint file is
Assignment 2's `load_checkpoint` (from the tree `--impl` names), so it loads with
weights_only=True whatever the entry point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from starter import seams
from starter.config import Config, validate
from starter.config_loader import apply_mapping, apply_override
from starter.datasets import DatasetBundle, build_datasets
from starter.distributed import pick_device
from starter.errors import CourseError
from starter.models import build_model


@dataclass
class Trained:
    cfg: Config
    model: nn.Module  # on `device`, in eval mode
    data: DatasetBundle
    device: torch.device
    checkpoint: dict
    path: Path


def checkpoint_path(path: str) -> Path:
    """A checkpoint file, or a run folder (its best.pt, else its last.pt)."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.pt", "last.pt"):
            if (p / "checkpoints" / name).is_file():
                return p / "checkpoints" / name
        raise CourseError(f"{p} holds no checkpoints/best.pt or checkpoints/last.pt (was checkpoint.enabled=true?)")
    return p


def load_trained(path: str, impl: str, overrides: list[str]) -> Trained:
    file = checkpoint_path(path)
    load_checkpoint = seams.load(seams.LOAD_CHECKPOINT, impl)
    ckpt = load_checkpoint(file)
    cfg = Config()
    apply_mapping(cfg, ckpt["config"], source=str(file))
    for item in [f"course.impl={impl}", *overrides]:
        apply_override(cfg, item)
    validate(cfg, list(seams.MODELS))
    impls = seams.resolve(cfg)
    device = pick_device(cfg.train.device)
    data = build_datasets(cfg.dataset)
    model = build_model(cfg.model.name, data, impls.get("model"))
    model.load_state_dict(ckpt["engine"]["model"])
    return Trained(cfg, model.to(device).eval(), data, device, ckpt, file)
