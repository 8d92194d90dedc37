"""Benchmark for Assignment 1: how soon a network reaches 99.2% and 99.5% on MNIST.

    python benchmarks/assignment_01.py                    # reference vs CNNSimple, 6 epochs
    python benchmarks/assignment_01.py --epochs 3 --impl assignments
    python benchmarks/assignment_01.py --extra train.batch_size=256

Trains each model in turn, in this one process, through the course's trainer with the
same data, loader and recipe (Assignment 1's CPU recipe by default), then prints the test
accuracy after every epoch with the training seconds elapsed (evaluation excluded), and
the seconds at which each threshold was first reached. A benchmark prints figures; it
asserts nothing (timings on shared machines are noisy: compare the rows of one run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from starter import seams  # noqa: E402
from starter.config import validate  # noqa: E402
from starter.config_loader import load_config  # noqa: E402
from starter.schedule import one_cycle  # noqa: E402
from starter.train import train  # noqa: E402

# Assignment 1's CPU recipe (the grader's): batch 128, Adam, OneCycleLR peaking at 0.004.
RECIPE = ["train.batch_size=128", "optim.name=adam", "optim.lr=0.004", "data.num_workers=0"]
THRESHOLDS = (0.992, 0.995)


def run(model: str, epochs: int, impl: str, extra: list[str], runs: Path) -> list[dict]:
    overrides = [*RECIPE, f"model.name={model}", f"train.epochs={epochs}", f"course.impl={impl}",
                 f"dataset.root={REPO / 'data'}", f"run.dir={runs}", *extra]  # fmt: skip
    cfg = load_config([str(REPO / "assets" / "configs.yml")], overrides)
    validate(cfg, list(seams.MODELS))
    return train(cfg, replace={"schedule": one_cycle})["history"]


def report(model: str, history: list[dict]) -> list[str]:
    lines, elapsed, first = [], 0.0, {}
    for r in history:
        elapsed += r["train_seconds"]
        lines.append(f"{model:<12}{r['epoch']:>6}{100 * r['val_acc']:>10.2f}%{elapsed:>10.1f}s"
                     f"{r['images_per_second']:>10,.0f}")  # fmt: skip
        for t in THRESHOLDS:
            if r["val_acc"] >= t and t not in first:
                first[t] = (r["epoch"], elapsed)
    reached = "  ".join(
        f"{100 * t:.1f}%: " + (f"epoch {first[t][0]}, {first[t][1]:.1f}s" if t in first else "not reached")
        for t in THRESHOLDS
    )
    return [*lines, f"{model:<12}first reached  {reached}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--impl", choices=["assignments", "solutions"], default="solutions")
    parser.add_argument("--models", nargs="+", default=["better_cnn", "cnn_simple"])
    parser.add_argument("--extra", nargs="*", default=[], metavar="KEY=VALUE", help="more overrides, for every model")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as runs:
        results = {m: run(m, args.epochs, args.impl, args.extra, Path(runs)) for m in args.models}
    print(f"\nMNIST, {' '.join(RECIPE + args.extra)}, {args.epochs} epochs, impl={args.impl}")
    print(f"{'model':<12}{'epoch':>6}{'test acc':>11}{'train s':>11}{'img/s':>10}")
    for model, history in results.items():
        print("\n".join(report(model, history)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
