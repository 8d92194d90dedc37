"""starter/evaluate.py and starter/predict.py on a real checkpoint (the reference's
Assignment 2 reads it, so this is instructor-only: the student copy has no solutions)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from starter.config_loader import load_config
from starter.train import train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    cfg = load_config([str(REPO / "assets" / "configs.yml")], [
        "course.impl=solutions", f"dataset.root={REPO / 'data'}", "train.epochs=1", "train.max_train_steps=60",
        "data.num_workers=0", "checkpoint.enabled=true", f"run.dir={runs}"])  # fmt: skip
    return Path(train(cfg)["run_dir"])


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "starter" / name), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_predict_a_test_image_by_index(run_dir):
    done = script("predict.py", str(run_dir), "--impl", "solutions", "--index", "0", "--top", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4 and re.match(r"predicted class (\d) \(\d - \w+\)\s+confidence \d+\.\d%", lines[0]), lines
    assert lines[-1].startswith("true class 7"), "MNIST's first test image is a 7"


def test_predict_an_image_file(run_dir, tmp_path):
    from torchvision import datasets

    image = datasets.MNIST(str(REPO / "data"), train=False)[0][0]  # a PIL image of a 7
    path = tmp_path / "seven.png"
    image.resize((56, 56)).convert("RGB").save(path)  # another size and mode: predict converts
    done = script("predict.py", str(run_dir / "checkpoints" / "last.pt"), "--impl", "solutions", "--image", str(path))
    assert done.returncode == 0, done.stderr
    assert re.match(r"predicted class \d .*confidence", done.stdout)


def test_bad_inputs_are_one_line_errors(run_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    bad_image = tmp_path / "x.png"
    bad_image.write_text("not an image")
    cases = [
        ("predict.py", str(run_dir), "--impl", "solutions", "--index", "99999"),
        ("predict.py", str(run_dir), "--impl", "solutions", "--image", str(bad_image)),
        ("evaluate.py", str(tmp_path / "empty"), "--impl", "solutions"),
        ("evaluate.py", str(tmp_path / "missing.pt"), "--impl", "solutions"),
    ]
    for name, *args in cases:
        done = script(name, *args)
        assert done.returncode == 2 and done.stderr.startswith("error: "), (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_evaluate_prints_loss_and_accuracy(run_dir):
    done = script("evaluate.py", str(run_dir), "--impl", "solutions")
    assert done.returncode == 0, done.stderr
    assert re.search(r"test loss \d+\.\d{4}  test acc \d+\.\d\d%  \(10000 images, after epoch 1\)", done.stdout)
