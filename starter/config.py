"""The configuration schema: one typed tree that `assets/configs.yml` mirrors.

Every key the course knows lives here, with its type, its default and, for a choice, its
valid values (a `Literal`). `starter/config_loader.py` reads YAML and `--override_args`
into this tree and rejects unknown keys, wrong types and invalid choices before any work
starts. Each section is one seam of the trainer; its defaults select the starter's naive
version, and the comment names the assignment that replaces it.

Why dataclasses + PyYAML rather than OmegaConf: the schema is plain Python a student can
read, and we want one-line errors with "did you mean" suggestions and the list of valid
choices, which OmegaConf's messages do not give; the loader that adds them is ~150 lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from starter.errors import CourseError, choice_error

DatasetName = Literal["mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder", "synthetic", "synthetic_random"]
MetricName = Literal["val_acc", "val_loss", "train_acc", "train_loss"]


@dataclass
class DatasetConfig:
    name: DatasetName = "mnist"
    # Data root. None: $DATA_ROOT if set, else the repository's data/ folder.
    root: str | None = None
    # imagefolder only: folder (absolute, or relative to root) that holds train/ and val/.
    folder: str = ""
    image_size: int = 224  # imagefolder only: side of the square crop fed to the model
    download: bool = True  # fetch from the internet when absent (torchvision datasets)
    train_subset: int = 0  # 0: every training image; N: the first N (quick tests)
    test_subset: int = 0


@dataclass
class DataConfig:
    # The data loader back-end (Assignment 10 adds memory, ffcv and dali).
    loader: Literal["torch", "memory", "ffcv", "dali"] = "torch"
    num_workers: int = 2  # loader processes; 0 loads in the training process
    augment: bool = False  # random crop + horizontal flip (32x32 colour datasets)


@dataclass
class ModelConfig:
    # A name from starter/seams.py's MODELS: cnn_simple is the starter's; assignments add more.
    name: str = "cnn_simple"


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only


@dataclass
class ScheduleConfig:
    # Constant LR unless warmup or decay is set; those are Assignment 7.
    warmup_epochs: float = 0.0  # linear warmup length, in epochs (fractions allowed)
    warmup_start_lr: float = 0.0  # LR at step 0 of the warmup
    decay: Literal["none", "cosine", "step"] = "none"  # after warmup
    min_lr: float = 0.0  # floor of the decay
    step_epochs: int = 30  # step decay: multiply by step_gamma every step_epochs epochs
    step_gamma: float = 0.1


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 64  # per process
    eval_batch_size: int = 1000
    seed: int = 0
    deterministic: bool = False  # bit-reproducible kernels (slower); needed for exact resume
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: the GPU CUDA_VISIBLE_DEVICES picks, else CPU
    max_train_steps: int = 0  # 0: whole epoch; N: stop each epoch after N steps (quick tests)
    max_eval_steps: int = 0


@dataclass
class CheckpointConfig:
    # Assignment 2. Off in the starter: nothing is saved.
    enabled: bool = False
    # auto: continue from the run folder's last checkpoint when there is one (restarting
    # with the same run.folder); none: start over (train.py --reset); or a checkpoint path.
    resume: str = "auto"
    every_steps: int = 0  # 0: save at epoch ends only; N: also every N steps (mid-epoch resume)
    monitor: MetricName = "val_acc"  # which metric picks `best` and drives early stopping
    mode: Literal["max", "min"] = "max"
    keep_last: int = 1  # how many epoch checkpoints to keep besides last and best
    early_stop_patience: int = 0  # 0: off; N: stop after N epochs without improvement


@dataclass
class DistributedConfig:
    # Assignments 5 (dp) and 6 (ddp, deepspeed). The starter runs one process, one device.
    backend: Literal["none", "dp", "ddp", "deepspeed"] = "none"
    dist_backend: Literal["auto", "gloo", "nccl"] = "auto"  # auto: nccl on GPUs, else gloo
    timeout_s: int = 600  # collective timeout, so a hung rank fails instead of waiting forever
    deepspeed_config: str | None = None  # path to a ds_config.json (deepspeed only)


@dataclass
class PrecisionConfig:
    # Assignment 9. fp32 is the starter's: no autocast, no loss scaling.
    name: Literal["fp32", "fp16", "bf16"] = "fp32"


@dataclass
class LoggingConfig:
    every_steps: int = 0  # 0: per-epoch records only; N: also steps.jsonl every N steps
    # Assignment 8:
    wandb: bool = False
    tensorboard: bool = False
    plots: bool = False


@dataclass
class RunConfig:
    dir: str = "runs"  # run folders go here, as <timestamp>-<name>/
    name: str = ""  # "": <dataset>-<model>
    folder: str = ""  # use exactly this run folder (created if missing): restarts, resume


@dataclass
class CourseConfig:
    # Which tree backs the assignment seams: the student's code or the reference.
    impl: Literal["assignments", "solutions"] = "assignments"


@dataclass
class Config:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    run: RunConfig = field(default_factory=RunConfig)
    course: CourseConfig = field(default_factory=CourseConfig)


# Keys whose value must be >= the bound; checked after loading, before any work.
_MINIMUMS = {
    "dataset.image_size": 8,
    "dataset.train_subset": 0,
    "dataset.test_subset": 0,
    "data.num_workers": 0,
    "optim.lr": 0.0,
    "optim.weight_decay": 0.0,
    "schedule.warmup_epochs": 0.0,
    "schedule.warmup_start_lr": 0.0,
    "schedule.min_lr": 0.0,
    "schedule.step_epochs": 1,
    "train.epochs": 1,
    "train.batch_size": 1,
    "train.eval_batch_size": 1,
    "train.max_train_steps": 0,
    "train.max_eval_steps": 0,
    "checkpoint.keep_last": 0,
    "checkpoint.every_steps": 0,
    "checkpoint.early_stop_patience": 0,
    "distributed.timeout_s": 1,
    "logging.every_steps": 0,
}


def get_key(cfg: Config, dotted: str):
    section, key = dotted.split(".")
    return getattr(getattr(cfg, section), key)


def validate(cfg: Config, model_names: list[str]) -> None:
    """Cross-field checks the types alone cannot express. Raises CourseError."""
    for dotted, low in _MINIMUMS.items():
        value = get_key(cfg, dotted)
        if value < low:
            raise CourseError(f"{dotted}={value} is out of range; it must be >= {low}")
    if cfg.model.name not in model_names:
        raise choice_error("model.name", cfg.model.name, model_names)
    s = cfg.schedule
    if s.warmup_epochs > cfg.train.epochs:
        raise CourseError(
            f"schedule.warmup_epochs={s.warmup_epochs} is longer than training "
            f"(train.epochs={cfg.train.epochs}); choose 0 <= warmup_epochs <= train.epochs"
        )
    if s.min_lr > cfg.optim.lr:
        raise CourseError(f"schedule.min_lr={s.min_lr} is above optim.lr={cfg.optim.lr}")
    if cfg.dataset.name == "imagefolder" and not cfg.dataset.folder:
        raise CourseError("dataset.name=imagefolder needs dataset.folder: the folder holding train/ and val/")
    if cfg.distributed.backend == "deepspeed" and not cfg.distributed.deepspeed_config:
        raise CourseError("distributed.backend=deepspeed needs distributed.deepspeed_config")
    if cfg.checkpoint.resume not in ("none", "auto") and not cfg.checkpoint.resume.strip():
        raise CourseError("checkpoint.resume must be none, auto or a checkpoint path")
