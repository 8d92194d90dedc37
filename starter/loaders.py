"""The data-loader seam: batches for the loop, in an order fixed by (seed, epoch).

The starter uses torchvision's datasets through PyTorch's DataLoader with worker
processes. Assignment 10 (`data.loader=memory|ffcv|dali`) swaps in faster back-ends
behind the same `Loaders` object.

Why one generator reseeded every epoch: it draws both the shuffle and the loader
workers' seeds (which drive random augmentations), so epoch k sees the same batches
whether the run started at epoch 0 or resumed at k. Workers are therefore not kept alive
between epochs (persistent workers would carry their random state across epochs).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Sampler

from starter.config import Config
from starter.datasets import DatasetBundle
from starter.distributed import Distributed


@dataclass
class Loaders:
    train: Iterable  # yields (inputs, targets) batches
    test: Iterable
    steps_per_epoch: int  # training batches per epoch on this process
    generator: torch.Generator
    seed: int

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Call before each epoch: makes that epoch's order a function of (seed, epoch).
        `skip_batches`: resume inside the epoch, after the batches already trained on."""
        self.generator.manual_seed(epoch_seed(self.seed, epoch))
        sampler = self.train.sampler
        sampler.set_epoch(epoch)
        sampler.skip = skip_batches * self.train.batch_size


class ResumableSampler(Sampler):
    """Wraps the training sampler so a resumed epoch can start after its first `skip`
    indices. Skipping indices, not batches, means the skipped samples are never loaded:
    loading them would run their random augmentations and shift the random stream that
    the restored RNG state is supposed to continue."""

    def __init__(self, base: Sampler) -> None:
        self.base, self.skip = base, 0

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):  # DistributedSampler shuffles by its own epoch
            self.base.set_epoch(epoch)

    def __iter__(self):
        skip, self.skip = self.skip, 0  # applies to one pass only
        return itertools.islice(iter(self.base), skip, None)

    def __len__(self) -> int:
        return len(self.base)


def epoch_seed(seed: int, epoch: int) -> int:
    """Distinct for every (seed, epoch) pair a course run will meet."""
    return seed * 1_000_003 + epoch


def build_loaders(cfg: Config, data: DatasetBundle, dist: Distributed, impl=None) -> Loaders:
    """`impl`: Assignment 10's build_loaders(cfg, data, dist), when data.loader is not torch."""
    if impl is not None:
        return impl(cfg, data, dist)
    generator = torch.Generator()
    workers = cfg.data.num_workers
    common = dict(num_workers=workers, pin_memory=dist.device.type == "cuda", prefetch_factor=4 if workers else None)
    train = DataLoader(
        data.train,
        batch_size=cfg.train.batch_size,
        sampler=ResumableSampler(dist.train_sampler(data.train, generator)),
        generator=generator,
        **common,
    )
    test = DataLoader(data.test, batch_size=cfg.train.eval_batch_size, sampler=dist.eval_sampler(data.test), **common)
    return Loaders(train, test, len(train), generator, cfg.train.seed)
