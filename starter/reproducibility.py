"""Seeds and deterministic kernels: what makes two runs of the same config identical.

Seeding fixes the initial weights and every random choice made in this process; the data
order and the augmentations in loader workers are seeded per epoch by starter/loaders.py.
`train.deterministic=true` also forbids non-deterministic kernels, which exact resume
(Assignment 2) needs, at some cost in speed on GPUs.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def set_deterministic(enabled: bool) -> None:
    if enabled:
        # cuBLAS needs a fixed workspace to be deterministic (PyTorch's reproducibility notes).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
