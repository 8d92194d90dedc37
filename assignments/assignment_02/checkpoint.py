"""Assignment 2, part 1: a checkpoint file — written atomically, loaded without running code.

A checkpoint is one dict holding everything a bit-exact resume needs:

    {"format": FORMAT,
     "engine": engine.state_dict(),      # model, optimizer, scheduler, grad scaler
     "loop": loop_state.state_dict(),    # epoch, step, position in the epoch, history
     "rng": capture_rng(),              # Python, NumPy, torch CPU and every CUDA device
     "manager": {...},                   # best metric so far, epochs without improvement
     "config": {...}, "metrics": {...}}  # plain dicts: what produced it, how it did

Everything in it is a tensor, a number, a string or a plain container, so it loads with
`torch.load(weights_only=True)`, which refuses to unpickle anything else: a checkpoint
from the internet cannot run code on your machine.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from starter.errors import CourseError

FORMAT = "dl-course-checkpoint/1"
# Prefixes that wrappers add to every parameter name: DataParallel/DDP's `module.` and
# torch.compile's `_orig_mod.`.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def save_checkpoint(path: Path, state: dict) -> None:
    """Write `state` to `path` so that a crash at any moment leaves either the old file or
    the new one, never a half-written file: write a temporary file in the same folder,
    flush and fsync it, rename it over `path` (atomic on POSIX), then fsync the folder so
    the rename itself survives a power cut. A save that fails removes its temporary file
    and re-raises the error."""
    raise NotImplementedError("A2: implement save_checkpoint in assignments/assignment_02/checkpoint.py")


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint with weights_only=True. Every failure is a CourseError naming the
    path: missing, truncated or not a PyTorch file, refused (it holds code or objects),
    or not one of this course's checkpoints. Never retry with weights_only=False: whoever
    made the file controls the error that would trigger the retry."""
    raise NotImplementedError("A2: implement load_checkpoint in assignments/assignment_02/checkpoint.py")


def capture_rng() -> dict:
    """Every random generator's state, as tensors and plain values (weights_only-safe)."""
    raise NotImplementedError("A2: implement capture_rng in assignments/assignment_02/checkpoint.py")


def restore_rng(state: dict) -> None:
    """Put back what capture_rng() saved, so the next random numbers are the same."""
    raise NotImplementedError("A2: implement restore_rng in assignments/assignment_02/checkpoint.py")


def load_model_weights(model: nn.Module, state_dict: dict) -> None:
    """Load weights saved from a bare, DataParallel/DDP-wrapped or compiled model into a
    bare `model`, strictly (every key must match)."""
    raise NotImplementedError("A2: implement load_model_weights in assignments/assignment_02/checkpoint.py")
