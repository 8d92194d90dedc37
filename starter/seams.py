"""Where the assignments plug in: the catalog of seams and the one function that loads them.

The training loop never changes between assignments. Each concept the course teaches is
a seam: the starter ships its naive default, and a config setting switches it to the
code in an assignment file, taken from the tree `course.impl` names (`assignments/`, the
student's, or `solutions/`, the reference). This file is the whole map from settings to
files, so a student can see which file a setting will run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from starter.config import Config
from starter.errors import CourseError


@dataclass(frozen=True)
class Seam:
    """An attribute `attr` of `<impl>/assignment_NN/<module>.py`."""

    assignment: int
    module: str
    attr: str

    def path(self, impl: str) -> str:
        return f"{impl}/assignment_{self.assignment:02d}/{self.module}.py"

    def module_name(self, impl: str) -> str:
        return f"{impl}.assignment_{self.assignment:02d}.{self.module}"


# model.name -> where the model is built; None means the starter's own (starter/models.py).
MODELS: dict[str, Seam | None] = {
    "cnn_simple": None,
    "better_cnn": Seam(1, "model", "BetterCNN"),
}

SCHEDULE = Seam(7, "schedule", "build_scheduler")
CHECKPOINT = Seam(2, "manager", "build_checkpointer")
LOAD_CHECKPOINT = Seam(2, "checkpoint", "load_checkpoint")  # evaluate.py, predict.py
DATA_PARALLEL = Seam(5, "data_parallel", "build_distributed")
DDP = Seam(6, "ddp", "build_distributed")
DEEPSPEED = Seam(6, "deepspeed_engine", "build_engine")
LOGGING = Seam(8, "run_logger", "build_logger")
PRECISION = Seam(9, "precision", "build_precision")
LOADERS = Seam(10, "loaders", "build_loaders")


def selected(cfg: Config) -> dict[str, Seam]:
    """The seams this config switches away from the starter's defaults, by seam name."""
    picks: dict[str, Seam] = {}
    model = MODELS.get(cfg.model.name)
    if model is not None:
        picks["model"] = model
    s = cfg.schedule
    if s.warmup_epochs > 0 or s.decay != "none":
        picks["schedule"] = SCHEDULE
    c = cfg.checkpoint
    if c.enabled or c.resume not in ("none", "auto") or c.early_stop_patience > 0:
        picks["checkpoint"] = CHECKPOINT
    backend = cfg.distributed.backend
    if backend == "dp":
        picks["distributed"] = DATA_PARALLEL
    elif backend in ("ddp", "deepspeed"):
        picks["distributed"] = DDP
    if backend == "deepspeed":
        picks["engine"] = DEEPSPEED
    if cfg.logging.wandb or cfg.logging.tensorboard or cfg.logging.plots:
        picks["logging"] = LOGGING
    if cfg.precision.name != "fp32":
        picks["precision"] = PRECISION
    if cfg.data.loader != "torch":
        picks["loaders"] = LOADERS
    return picks


def load(seam: Seam, impl: str) -> Any:
    """Import the seam's module from the `impl` tree and return its attribute.

    A file that does not exist yet, or lacks the attribute, is a CourseError naming the file;
    a missing third-party package inside it is a CourseError with the install hint.
    """
    name = seam.module_name(impl)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise CourseError(
                f"Assignment {seam.assignment} is needed for this config, but {seam.path(impl)} "
                f"does not exist in this copy of the course"
            ) from None
        raise CourseError(
            f"{seam.path(impl)} needs the package '{err.name}', which is not installed: "
            f"pip install -r requirements/assignment_{seam.assignment:02d}.txt"
        ) from None
    if not hasattr(module, seam.attr):
        raise CourseError(f"{seam.path(impl)} must define {seam.attr} (Assignment {seam.assignment})")
    return getattr(module, seam.attr)


def resolve(cfg: Config) -> dict[str, Any]:
    """Load every seam the config selects, before any work starts, so a missing file or
    package is reported at once rather than after the dataset has loaded."""
    return {name: load(seam, cfg.course.impl) for name, seam in selected(cfg).items()}
