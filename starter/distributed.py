"""The distributed seam: which process am I, on which device, and how processes agree.

The starter is one process on one device. Assignment 5 (`distributed.backend=dp`) wraps
the model in DataParallel; Assignment 6 (`ddp`, `deepspeed`) starts one process per
device from the launcher's environment, shards the data and all-reduces the metrics.
The loop only ever talks to this interface, so it never branches on the backend.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import Dataset, RandomSampler, Sampler, SequentialSampler

from starter.config import Config
from starter.errors import CourseError


class Distributed(Protocol):
    rank: int  # this process among all processes
    world_size: int
    local_rank: int  # this process among those on its machine
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and prints."""
        ...

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the loop calls for forward (DP/DDP wrap it); its weights stay the model's."""
        ...

    def train_sampler(self, dataset: Dataset, generator: torch.Generator) -> Sampler:
        """This process's share of the training set, shuffled by `generator` (reseeded each epoch)."""
        ...

    def eval_sampler(self, dataset: Dataset) -> Sampler:
        """This process's share of the test set; together the ranks count each image once."""
        ...

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor: ...

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's value of `obj`, on every rank (e.g. the run folder's name)."""
        ...

    def barrier(self) -> None: ...

    def close(self) -> None: ...


class SingleProcess:
    """One process, one device: every collective is the identity."""

    rank, world_size, local_rank = 0, 1, 0

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @property
    def is_main(self) -> bool:
        return True

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def train_sampler(self, dataset: Dataset, generator: torch.Generator) -> Sampler:
        return RandomSampler(dataset, generator=generator)

    def eval_sampler(self, dataset: Dataset) -> Sampler:
        return SequentialSampler(dataset)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def broadcast_object(self, obj: Any) -> Any:
        return obj

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


def pick_device(choice: str) -> torch.device:
    """`auto`: the first GPU that CUDA_VISIBLE_DEVICES leaves visible, else the CPU."""
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if choice == "cuda":
        raise CourseError("train.device=cuda but no CUDA GPU is visible; valid choices here: auto, cpu")
    return torch.device("cpu")


def build_distributed(cfg: Config, impl=None) -> Distributed:
    """`impl`: Assignment 5/6's build_distributed(cfg), which may start a process group."""
    if impl is None:
        return SingleProcess(pick_device(cfg.train.device))
    return impl(cfg)
