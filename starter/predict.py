"""Predict the class of one image with a trained checkpoint, and how confident it is.

    python starter/predict.py runs/<run> --index 17          # image 17 of the test set
    python starter/predict.py runs/<run> --image digit.png   # any image file
    python starter/predict.py runs/<run> --image cat.jpg --impl solutions --top 3

An image file is converted the way the dataset's test images are: to grey or colour as
the model expects, resized to its input size, then the test transform (normalisation).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a script

import torch  # noqa: E402

from starter.errors import CourseError, run_cli  # noqa: E402
from starter.inference import Trained, load_trained  # noqa: E402


def image_tensor(t: Trained, path: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path).convert("L" if t.data.in_channels == 1 else "RGB")
    except (FileNotFoundError, UnidentifiedImageError) as err:
        raise CourseError(f"cannot read image {path}: {err}") from None
    image = image.resize((t.data.image_size, t.data.image_size))
    transform = getattr(t.data.test, "transform", None)
    if transform is None:
        raise CourseError(f"dataset.name={t.cfg.dataset.name} has no image transform; use --index")
    return transform(image)


@torch.no_grad()
def predict(t: Trained, x: torch.Tensor, top: int) -> list[tuple[int, float]]:
    """The `top` most likely classes of one image, with their probabilities."""
    probs = torch.softmax(t.model(x.unsqueeze(0).to(t.device)).float(), dim=1)[0]
    values, classes = probs.topk(min(top, probs.numel()))
    return list(zip(classes.tolist(), values.tolist(), strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint file, or a run folder")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--index", type=int, help="an image of the test set, by position")
    source.add_argument("--image", help="an image file")
    parser.add_argument("--top", type=int, default=1, help="how many classes to list")
    parser.add_argument("--impl", choices=["assignments", "solutions"], default="assignments")
    parser.add_argument("--override_args", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    t = load_trained(args.checkpoint, args.impl, args.override_args)
    if args.image:
        x, truth = image_tensor(t, args.image), None
    else:
        if not 0 <= args.index < len(t.data.test):
            raise CourseError(f"--index {args.index} is out of range: the test set has {len(t.data.test)} images")
        x, truth = t.data.test[args.index]
    for rank, (label, p) in enumerate(predict(t, x, args.top)):
        name = t.data.classes[label] if label < len(t.data.classes) else str(label)
        print(f"{'predicted' if rank == 0 else '         '} class {label} ({name})  confidence {100 * p:.1f}%")
    if truth is not None:
        print(f"true class {int(truth)} ({t.data.classes[int(truth)]})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
