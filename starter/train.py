"""Train a network: the course's base script.

    python starter/train.py --configs assets/configs.yml
    python starter/train.py --configs assets/configs.yml \\
        --override_args dataset.name=cifar10 train.epochs=25
    python starter/train.py --configs assets/configs.yml --override_args course.impl=solutions ...

It builds every piece from the config, each through its seam (see starter/seams.py),
and runs the one loop in starter/loop.py. Each run writes a folder under `run.dir`
(see starter/runfolder.py). A bad config exits with code 2 and a one-line message.
"""

from __future__ import annotations

import time

LAUNCHED = time.perf_counter()  # before the heavy imports: start-up time is measured from here

import argparse  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

# Runnable as `python starter/train.py` from anywhere: make the repository importable.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from starter import seams  # noqa: E402
from starter.checkpoint import build_checkpointer  # noqa: E402
from starter.config import Config, validate  # noqa: E402
from starter.config_loader import load_config  # noqa: E402
from starter.datasets import build_datasets  # noqa: E402
from starter.distributed import build_distributed  # noqa: E402
from starter.engine import PlainEngine  # noqa: E402
from starter.errors import run_cli  # noqa: E402
from starter.loaders import build_loaders  # noqa: E402
from starter.loop import LoopLimits, LoopState, Timing, epoch_length, fit  # noqa: E402
from starter.models import build_model  # noqa: E402
from starter.optim import build_optimizer  # noqa: E402
from starter.precision import build_precision  # noqa: E402
from starter.reproducibility import seed_everything, set_deterministic  # noqa: E402
from starter.run_logger import build_logger  # noqa: E402
from starter.runfolder import create_run_dir, discard_if_unused, write_json  # noqa: E402
from starter.schedule import build_scheduler  # noqa: E402


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", nargs="+", default=[str(REPO / "assets" / "configs.yml")], help="YAML files, merged in order"
    )
    parser.add_argument(
        "--override_args", nargs="*", default=[], metavar="KEY=VALUE", help="e.g. train.epochs=5 optim.lr=0.01"
    )
    parser.add_argument(
        "--reset", action="store_true", help="start over, ignoring checkpoints in run.folder (checkpoint.resume=none)"
    )
    return parser.parse_args(argv)


def configure(argv: Sequence[str] | None = None) -> Config:
    """Parse the command line into a checked Config (raises CourseError)."""
    args = parse_args(argv)
    overrides = [*args.override_args, *(["checkpoint.resume=none"] if args.reset else [])]
    cfg = load_config(args.configs, overrides)
    validate(cfg, list(seams.MODELS))
    return cfg


def train(cfg: Config, launched: float | None = None, replace: dict | None = None) -> dict:
    """Run one training job described by `cfg`; returns its summary (as in summary.json)
    plus `history`, the per-epoch records (as in metrics.jsonl).

    `replace`: seam implementations to use instead of what the config selects, by seam
    name (see starter/seams.py), e.g. {"schedule": build_fn} — for graders and benchmarks
    that fix part of the recipe in code."""
    impls = {**seams.resolve(cfg), **(replace or {})}  # a missing assignment file fails here
    set_deterministic(cfg.train.deterministic)
    seed_everything(cfg.train.seed)
    # Once the loss nears zero, gradients and Adam's moments turn denormal, and CPU kernels
    # on denormals run ~10x slower (measured: 530 vs 7,000 img/s for CNNSimple on the
    # synthetic set). Flushing them to zero is what GPUs do anyway.
    torch.set_flush_denormal(True)
    dist = build_distributed(cfg, impls.get("distributed"))
    # Everything that can fail on a bad setting comes before the run folder exists, so a
    # wrong dataset.root or an unimplemented model leaves no empty folder behind.
    data = build_datasets(cfg.dataset, augment=cfg.data.augment)
    loaders = build_loaders(cfg, data, dist, impls.get("loaders"))

    module = build_model(cfg.model.name, data, impls.get("model")).to(dist.device)
    optimizer = build_optimizer(cfg.optim, module.parameters())
    steps_per_epoch = epoch_length(loaders.steps_per_epoch, cfg.train.max_train_steps)
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch, impls.get("schedule"))
    precision = build_precision(cfg, dist.device, impls.get("precision"))
    if "engine" in impls:  # DeepSpeed's engine owns backward and step (Assignment 6)
        engine = impls["engine"](cfg, module, optimizer, scheduler, dist)
    else:
        engine = PlainEngine(dist.wrap(module), module, optimizer, scheduler, precision)

    run_dir = create_run_dir(cfg, dist)
    with discard_if_unused(run_dir, dist):  # a checkpoint that fails to load, say
        logger = build_logger(cfg, run_dir, dist, impls.get("logging"))
        checkpointer = build_checkpointer(cfg, run_dir, dist, impls.get("checkpoint"))
        state = checkpointer.restore(engine, LoopState())
    if dist.is_main:
        print(
            f"run folder: {run_dir}  ({cfg.dataset.name}, {cfg.model.name}, {dist.device}, "
            f"{sum(p.numel() for p in module.parameters()):,} parameters)",
            flush=True,
        )

    limits = LoopLimits(cfg.train.epochs, cfg.train.max_train_steps, cfg.train.max_eval_steps, cfg.logging.every_steps)
    timing = Timing()
    state = fit(engine, loaders, dist, logger, checkpointer, limits, state, timing)

    summary = summarize(state, cfg.train.epochs, module, timing, launched)
    summary["run_dir"] = str(run_dir)
    logger.close(summary)
    if dist.is_main:
        write_json(run_dir / "summary.json", summary)
    dist.close()
    return {**summary, "history": state.history}  # the per-epoch records too, for scripts


def summarize(state: LoopState, epochs: int, module, timing: Timing, launched: float | None) -> dict:
    history = state.history
    best = max(history, key=lambda r: r["val_acc"]) if history else {}
    return {
        "status": "completed" if state.epoch >= epochs else "stopped early",
        "epochs_completed": state.epoch,
        "steps": state.global_step,
        "final": history[-1] if history else {},
        "best_val_acc": best.get("val_acc"),
        "best_epoch": best.get("epoch"),
        "num_parameters": sum(p.numel() for p in module.parameters()),
        "train_seconds": sum(r["epoch_seconds"] for r in history),
        # Launch (process start, before imports) to the end of the first optimizer step.
        "seconds_to_first_step": (timing.first_step_at - launched) if launched and timing.first_step_at else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    summary = train(configure(argv), launched=LAUNCHED)
    print(
        f"done: best val_acc {100 * (summary['best_val_acc'] or 0):.2f}% "
        f"(epoch {summary['best_epoch']}); files in {summary['run_dir']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
