"""Evaluate a checkpoint: test loss and accuracy on its dataset's test set.

    python starter/evaluate.py runs/<run>/checkpoints/best.pt
    python starter/evaluate.py runs/<run>                 # its best.pt, else last.pt
    python starter/evaluate.py runs/<run> --impl solutions --override_args dataset.root=/data
    python starter/evaluate.py runs/<run> --json          # one JSON line, for scripts

The same evaluation as training's (starter/loop.py), so it reproduces the val_acc that
metrics.jsonl logged for the checkpoint's epoch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a script

from starter.distributed import SingleProcess  # noqa: E402
from starter.engine import PlainEngine  # noqa: E402
from starter.errors import run_cli  # noqa: E402
from starter.inference import load_trained  # noqa: E402
from starter.loaders import build_loaders  # noqa: E402
from starter.loop import evaluate  # noqa: E402
from starter.optim import build_optimizer  # noqa: E402
from starter.precision import build_precision  # noqa: E402
from starter.schedule import build_scheduler  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint file, or a run folder")
    parser.add_argument("--impl", choices=["assignments", "solutions"], default="assignments")
    parser.add_argument("--override_args", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    args = parser.parse_args(argv)

    t = load_trained(args.checkpoint, args.impl, args.override_args)
    dist = SingleProcess(t.device)
    optimizer = build_optimizer(t.cfg.optim, t.model.parameters())  # unused: the engine wants one
    engine = PlainEngine(t.model, t.model, optimizer, build_scheduler(optimizer, t.cfg, 1),
                         build_precision(t.cfg, t.device))  # fmt: skip
    loaders = build_loaders(t.cfg, t.data, dist)
    result = evaluate(engine, loaders.test, dist, desc="evaluate")
    result["epoch"] = t.checkpoint["loop"]["epoch"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{t.path}: test loss {result['val_loss']:.4f}  test acc {100 * result['val_acc']:.2f}%  "
              f"({result['val_images']} images, after epoch {result['epoch']})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
