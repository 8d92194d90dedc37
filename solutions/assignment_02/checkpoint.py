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
    # BEGIN SOLUTION
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    # END SOLUTION


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint with weights_only=True. Every failure is a CourseError naming the
    path: missing, truncated or not a PyTorch file, refused (it holds code or objects),
    or not one of this course's checkpoints. Never retry with weights_only=False: whoever
    made the file controls the error that would trigger the retry."""
    # BEGIN SOLUTION
    path = Path(path)
    if not os.path.isfile(path):
        raise CourseError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        refused = [line for line in lines if "GLOBAL" in line]
        if refused:
            raise CourseError(f"refused to load {path}: it holds objects other than tensors ({refused[0]})") from None
        reason = lines[0] if lines else type(err).__name__
        raise CourseError(f"{path} is not a readable checkpoint (truncated or not a PyTorch file): {reason}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CourseError(f"{path} is not a checkpoint of this course (no format '{FORMAT}')")
    return state
    # END SOLUTION


def capture_rng() -> dict:
    """Every random generator's state, as tensors and plain values (weights_only-safe)."""
    # BEGIN SOLUTION
    version, keys, gauss = random.getstate()
    name, np_keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(keys), gauss],
        "numpy": [name, torch.from_numpy(np_keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    # END SOLUTION


def restore_rng(state: dict) -> None:
    """Put back what capture_rng() saved, so the next random numbers are the same."""
    # BEGIN SOLUTION
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    name, np_keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np_keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    # END SOLUTION


def load_model_weights(model: nn.Module, state_dict: dict) -> None:
    """Load weights saved from a bare, DataParallel/DDP-wrapped or compiled model into a
    bare `model`, strictly (every key must match)."""
    # BEGIN SOLUTION
    stripped = True
    while stripped:  # wrappers nest: DDP(compile(model)) saves "module._orig_mod.conv.weight"
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if state_dict and all(key.startswith(prefix) for key in state_dict):
                state_dict = {key[len(prefix) :]: value for key, value in state_dict.items()}
                stripped = True
    model.load_state_dict(state_dict)
    # END SOLUTION
