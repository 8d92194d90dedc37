"""Build the course's Colab notebooks, so that they share one setup cell.

    python notebooks/build_notebooks.py          # (re)write notebooks/*.ipynb
    python notebooks/build_notebooks.py --check  # exit 1 when a committed notebook differs

The .ipynb files are generated: edit this script, never the notebooks, then rebuild. They
are written without outputs and with fixed cell ids, so a rebuild of unchanged cells is
byte for byte the same; tests/test_notebooks.py runs every notebook and checks that the
committed files equal what this script builds.

The repository the notebooks clone is named in one place, assets/course_repo.txt: the
STUDENT repository (the copy tools/release.py exports, without solutions/). The setup cell
clones it and every "Open in Colab" badge points into it. Each notebook's setup cell
installs only its assignment's set, requirements/assignment_NN.txt (the quick start:
requirements/base.txt), and keeps a PyTorch that is already there (Colab's).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat import v4

REPO_ROOT = Path(__file__).resolve().parents[1]
COURSE_REPO_FILE = REPO_ROOT / "assets" / "course_repo.txt"
BRANCH = "main"  # the branch tools/release.py commits the student copy to
NOTEBOOKS_DIR = Path(__file__).resolve().parent


def course_repo_url(path: Path = COURSE_REPO_FILE) -> str:
    """The student repository's URL: the one line of `path` that is not blank or a # comment."""
    urls = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if len(urls) != 1 or not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+?(\.git)?", urls[0]):
        raise ValueError(f"{path}: expected one line https://github.com/OWNER/REPO.git (the student repository)")
    return urls[0]


REPO_URL = course_repo_url()
TRAIN_CMD = "!{sys.executable} starter/train.py --configs assets/configs.yml --override_args"

SETUP = """\
# Setup: run this cell first. Outside a checkout of the course (Colab) it clones the
# course and installs what this notebook needs (REQUIREMENTS), keeping the PyTorch that
# is already there (Colab's); inside a checkout it only moves to the repository root
# (and installs what is missing, if anything).
import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_URL = "{repo_url}"
REQUIREMENTS = "{requirements}"{system}


def shell(cmd, env=None):
    \"\"\"Run `cmd`. A notebook never shows a child process's output, so on failure print it here.\"\"\"
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(done.stdout[-6000:], done.stderr[-6000:], sep="\\n", file=sys.stderr)
        raise RuntimeError(f"{{' '.join(map(str, cmd))}} failed (exit {{done.returncode}}); its output is above")
    return done.stdout


def requirements(path):
    \"\"\"The requirement lines of `path`, following `-r other.txt` includes.\"\"\"
    lines = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines += requirements(Path(path).parent / line[3:].strip())
        elif line:
            lines.append(line)
    return lines


def name(requirement):
    return re.match(r"[\\w.-]+", requirement)[0].lower()


def installed(requirement):
    try:
        importlib.metadata.version(name(requirement))
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


here = Path.cwd()
root = next((p for p in (here, here.parent) if (p / "starter" / "train.py").is_file()), None)
if root is None:  # not in a checkout: clone the course here (once)
    root = here / Path(REPO_URL).stem
    if not (root / "starter" / "train.py").is_file():
        shell(["git", "clone", "--depth", "1", REPO_URL, str(root)])
os.chdir(root)
if str(root) not in sys.path:
    sys.path.insert(0, str(root))

# torch and torchvision stay as they are when present (Colab's builds match its GPU).
wanted = [r for r in requirements(REQUIREMENTS) if not (name(r) in ("torch", "torchvision") and installed(r))]
missing = [name(r) for r in wanted if not installed(r)]
if missing:
    print(f"installing {{REQUIREMENTS}} ({{', '.join(missing)}} missing); a PyTorch already there stays")
{install_system}    keep = Path(tempfile.gettempdir()) / "course-requirements.txt"
    keep.write_text("\\n".join(wanted) + "\\n")
    print(shell([sys.executable, "-m", "pip", "install", "-r", str(keep)]).strip().splitlines()[-1])
    importlib.invalidate_caches()

# COURSE_QUICK=1: tiny runs on synthetic data (CI). COURSE_IMPL: whose code the trainer
# and the grader use, assignments (yours) or solutions. COURSE_RUNS: where runs go.
QUICK = os.environ.get("COURSE_QUICK") == "1"
IMPL = os.environ.get("COURSE_IMPL", "assignments")
RUNS = Path(os.environ.get("COURSE_RUNS", "runs")).resolve()
TRAIN = ("dataset.name=synthetic train.epochs=2 train.max_train_steps=20 train.max_eval_steps=1 data.num_workers=0"
         if QUICK else "dataset.name=mnist train.epochs=3")

from starter.runfolder import read_jsonl


def records(run_dir, name="metrics.jsonl"):
    \"\"\"A run's records: metrics.jsonl has one per epoch, steps.jsonl one per logged step.\"\"\"
    path = Path(run_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{{path}} is missing: the training run did not finish (see its output above)")
    return read_jsonl(path)


print(f"course at {{root}}; quick mode: {{QUICK}}; code: {{IMPL}}/; runs go to {{RUNS}}")"""

SYSTEM = """
ASSIGNMENT = {n}  # its system packages: requirements/system-packages.txt"""
INSTALL_SYSTEM = """\
    shell(["bash", "tools/install_system_packages.sh", str(ASSIGNMENT)], env={**os.environ, "PYTHON": sys.executable})
"""


def setup_cell(assignment: int | None) -> str:
    """The setup cell of a notebook for `assignment` (None: the quick start, the base set)."""
    requirements = "requirements/base.txt" if assignment is None else f"requirements/assignment_{assignment:02d}.txt"
    if not (REPO_ROOT / requirements).is_file():
        raise FileNotFoundError(f"{requirements} is missing: each assignment's notebook installs its own set")
    return SETUP.format(
        repo_url=REPO_URL,
        requirements=requirements,
        system="" if assignment is None else SYSTEM.format(n=assignment),
        install_system="" if assignment is None else INSTALL_SYSTEM,
    )


def colab_url(name: str) -> str:
    repo = REPO_URL.removeprefix("https://github.com/").removesuffix(".git")
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/notebooks/{name}"


def header(name: str, title: str, text: str) -> str:
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(name)})"
    return f"# {title}\n\n{badge}\n\n{text}"


def grade_cell(assignment: int, quick_only: str | None = None) -> str:
    """The grader, on IMPL. `quick_only`: a pytest -k expression that selects the fast
    tests, used in quick mode (CI) only; a student's run always runs them all."""
    command = f"!{{sys.executable}} -m pytest autograder/assignment_{assignment:02d} -q --tb=short --impl {{IMPL}}"
    comment = f"# Grade Assignment {assignment}. A failing test is a result, not an error: read its message.\n"
    if quick_only is None:
        return comment + command
    return (
        f"{comment}# In quick mode (CI) only the fast tests run; without COURSE_QUICK, all of them.\n"
        f'ONLY = \'-k "{quick_only}"\' if QUICK else ""\n'
        f"{command} {{ONLY}}"
    )


QUICKSTART_TRAIN = f"""\
import shutil

quickstart = RUNS / "quickstart"
shutil.rmtree(quickstart, ignore_errors=True)  # a fresh run every time this cell runs
{TRAIN_CMD} {{TRAIN}} course.impl={{IMPL}} run.folder={{quickstart}}"""

QUICKSTART_PLOT = """\
import matplotlib.pyplot as plt

history = records(quickstart)
epochs = [r["epoch"] for r in history]
fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
for split in ("train", "val"):
    loss_ax.plot(epochs, [r[f"{split}_loss"] for r in history], "o-", label=split)
    acc_ax.plot(epochs, [r[f"{split}_acc"] for r in history], "o-", label=split)
loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
for ax in (loss_ax, acc_ax):
    ax.set_xticks(epochs)
    ax.legend()
    ax.grid(alpha=0.3)
plt.show()"""


def quickstart() -> list[tuple[str, str]]:
    intro = (
        "Train the course's starter network, plot its learning curves and run an assignment's autograder: "
        "the same commands as the README, from a notebook. In Colab, a GPU runtime (Runtime > Change "
        "runtime type) is faster; the CPU works too."
    )
    return [
        ("markdown", header("00_quickstart.ipynb", "Quick start", intro)),
        ("code", setup_cell(None)),
        (
            "markdown",
            "## Train\n\n`starter/train.py` reads `assets/configs.yml`; `--override_args` changes any key "
            "(each is documented in `starter/config.py`). `run.folder` names the folder the run writes, so "
            "the next cell knows where its `metrics.jsonl` is.",
        ),
        ("code", QUICKSTART_TRAIN),
        ("markdown", "## Learning curves\n\nOne record per epoch, from the run folder's `metrics.jsonl`."),
        ("code", QUICKSTART_PLOT),
        (
            "markdown",
            "## Grade an assignment\n\nEvery assignment has a pytest autograder in `autograder/assignment_NN/`. "
            "On the untouched stub it reports 0 points; complete `assignments/assignment_07/schedule.py` "
            "and run it again.",
        ),
        ("code", grade_cell(7)),
    ]


ASSIGNMENT_07_PLOT = """\
import importlib

import matplotlib.pyplot as plt
import torch

from starter.config import ScheduleConfig

schedule = importlib.import_module(f"{IMPL}.assignment_07.schedule")


def not_implemented():
    \"\"\"The stub's message while lr_at or build_scheduler still raise NotImplementedError.\"\"\"
    cfg = ScheduleConfig(warmup_epochs=1, decay="cosine")
    try:
        schedule.lr_at(0, cfg, 0.1, 10, 2)
        schedule.build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), cfg, 0.1, 10, 2)
    except NotImplementedError as err:
        return str(err)
    return None


STEPS_PER_EPOCH, EPOCHS, BASE_LR = 100, 10, 0.1
settings = {
    "warmup 1 epoch + cosine": ScheduleConfig(warmup_epochs=1, decay="cosine"),
    "warmup 2 epochs + step (x0.3 every 3 epochs)": ScheduleConfig(
        warmup_epochs=2, decay="step", step_epochs=3, step_gamma=0.3),
    "no warmup + cosine to 0.01": ScheduleConfig(decay="cosine", min_lr=0.01),
}
steps = range(STEPS_PER_EPOCH * EPOCHS)
todo = not_implemented()
if todo:
    print(f"Nothing to plot yet: {todo}")
else:
    fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
    for label, cfg in settings.items():
        lrs = [schedule.lr_at(s, cfg, BASE_LR, STEPS_PER_EPOCH, EPOCHS) for s in steps]
        ax.plot([s / STEPS_PER_EPOCH for s in steps], lrs, label=label)
    ax.set(xlabel="epoch", ylabel="learning rate", title=f"lr_at from {IMPL}/assignment_07/schedule.py")
    ax.legend()
    ax.grid(alpha=0.3)
    plt.show()"""

ASSIGNMENT_07_RUNS = f"""\
import shutil

HIGH_LR = "optim.name=adam optim.lr=0.01 schedule.decay=cosine logging.every_steps=5"  # 10x the default LR
no_warmup, warmup = RUNS / "a07-no-warmup", RUNS / "a07-warmup"
for folder in (no_warmup, warmup):
    shutil.rmtree(folder, ignore_errors=True)  # fresh runs every time this cell runs
{TRAIN_CMD} {{TRAIN}} {{HIGH_LR}} course.impl={{IMPL}} schedule.warmup_epochs=0 run.folder={{no_warmup}}
{TRAIN_CMD} {{TRAIN}} {{HIGH_LR}} course.impl={{IMPL}} schedule.warmup_epochs=1 run.folder={{warmup}}"""

ASSIGNMENT_07_COMPARE = """\
runs = {"no warmup": no_warmup, "warmup 1 epoch": warmup}
if todo:  # the stub: the runs stopped at once, asking for your code
    print(f"Nothing to compare yet: {todo}")
else:
    fig, (loss_ax, acc_ax, lr_ax) = plt.subplots(1, 3, figsize=(14, 3.5), layout="constrained")
    for label, folder in runs.items():
        history = records(folder)
        epochs = [r["epoch"] for r in history]
        loss_ax.plot(epochs, [r["train_loss"] for r in history], "o-", label=label)
        acc_ax.plot(epochs, [r["val_acc"] for r in history], "o-", label=label)
        logged = records(folder, "steps.jsonl")
        lr_ax.plot([r["step"] for r in logged], [r["lr"] for r in logged], label=label)
    loss_ax.set(xlabel="epoch", ylabel="train loss", title="train loss", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="val accuracy", title="val accuracy")
    lr_ax.set(xlabel="step", ylabel="learning rate", title="the LR each step used")
    loss_ax.set_xticks(epochs)
    acc_ax.set_xticks(epochs)
    for ax in (loss_ax, acc_ax, lr_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    plt.show()"""


def assignment_07() -> list[tuple[str, str]]:
    intro = (
        "Implement `lr_at`, `WarmupDecay` and `build_scheduler` in `assignments/assignment_07/schedule.py` "
        "(its docstring states the task). This notebook plots your schedule, trains with and without "
        "warmup at a learning rate too high to start with, and grades your code."
    )
    return [
        ("markdown", header("assignment_07.ipynb", "Assignment 7: learning-rate warmup", intro)),
        ("code", setup_cell(7)),
        (
            "markdown",
            "## Your schedule\n\n`lr_at(step, cfg, base_lr, steps_per_epoch, epochs)` is the LR that optimizer "
            "step `step` uses. Three settings, 10 epochs of 100 steps, peak 0.1. While the stub still raises "
            "`NotImplementedError`, this cell says so and plots nothing.",
        ),
        ("code", ASSIGNMENT_07_PLOT),
        (
            "markdown",
            "## Warmup at a high learning rate\n\nAdam at `lr=0.01` (ten times the course's default) with "
            "cosine decay, once at full LR from step 0 and once after one epoch of linear warmup: the two "
            "runs differ only in `schedule.warmup_epochs`. On MNIST, the run without warmup is wrecked by "
            "its first large updates and ends up predicting a single class (about 11% accuracy), while "
            "the one with warmup reaches about 99%. In quick mode (synthetic data, a few steps) both learn.",
        ),
        ("code", ASSIGNMENT_07_RUNS),
        ("code", ASSIGNMENT_07_COMPARE),
        ("markdown", "## Grade"),
        ("code", grade_cell(7)),
    ]


ASSIGNMENT_01_SHAPES = """\
import importlib

import torch

from starter.models import CNNSimple

BetterCNN = importlib.import_module(f"{IMPL}.assignment_01.model").BetterCNN


def describe(model_cls, channels, size, classes=10):
    \"\"\"The output shape for a batch of 2 images, and the parameter count.\"\"\"
    model = model_cls(in_channels=channels, num_classes=classes, image_size=size).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, channels, size, size))
    return f"output {tuple(out.shape)}, {sum(p.numel() for p in model.parameters()):,} parameters"


for channels, size in ((1, 28), (3, 32)):
    print(f"{channels}x{size}x{size} images, 10 classes, a batch of 2:")
    print(f"  CNNSimple  {describe(CNNSimple, channels, size)}")
    try:
        print(f"  BetterCNN  {describe(BetterCNN, channels, size)}")
    except NotImplementedError as err:
        print(f"  BetterCNN  not implemented yet: {err}")"""

ASSIGNMENT_01_RUNS = f"""\
import shutil

RECIPE = "train.batch_size=128 optim.lr=0.002"  # the README's recipe, the same for both networks
better, simple = RUNS / "a01-better-cnn", RUNS / "a01-cnn-simple"
for folder in (better, simple):
    shutil.rmtree(folder, ignore_errors=True)  # fresh runs every time this cell runs
{TRAIN_CMD} {{TRAIN}} {{RECIPE}} course.impl={{IMPL}} model.name=better_cnn run.folder={{better}}
{TRAIN_CMD} {{TRAIN}} {{RECIPE}} course.impl={{IMPL}} model.name=cnn_simple run.folder={{simple}}"""

ASSIGNMENT_01_COMPARE = """\
import matplotlib.pyplot as plt

runs = {"BetterCNN": better, "CNNSimple": simple}
if not (better / "metrics.jsonl").is_file():  # e.g. the stub: its run stopped at once
    print("Nothing to compare yet: the BetterCNN run did not finish (see its output above)")
else:
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    for label, folder in runs.items():
        history = records(folder)
        epochs = [r["epoch"] for r in history]
        ax.plot(epochs, [100 * r["val_acc"] for r in history], "o-", label=label)
        accs = ", ".join(f"{100 * r['val_acc']:.2f}%" for r in history)
        print(f"{label:<10} val_acc per epoch: {accs}")
    ax.set(xlabel="epoch", ylabel="val accuracy (%)", title="BetterCNN and CNNSimple, same data and recipe")
    ax.set_xticks(epochs)
    ax.legend()
    ax.grid(alpha=0.3)
    plt.show()"""


def assignment_01() -> list[tuple[str, str]]:
    intro = (
        "Implement `BetterCNN` in `assignments/assignment_01/model.py`; the task, the 25-epoch runs and "
        "the grading are in `assignments/assignment_01/README.md`. This notebook checks your network's "
        "shapes and size next to the starter's `CNNSimple`, trains both on the same data with the same "
        "recipe, compares their accuracy per epoch, and grades your code."
    )
    return [
        ("markdown", header("assignment_01.ipynb", "Assignment 1: a better network", intro)),
        ("code", setup_cell(1)),
        (
            "markdown",
            "## Shapes and size\n\nThe trainer builds `BetterCNN(in_channels=..., num_classes=..., "
            "image_size=...)`: 1x28x28 for MNIST, 3x32x32 for CIFAR-10. It must return `(batch, classes)` "
            "logits with at most 150,000 parameters. While the stub still raises `NotImplementedError`, "
            "this cell says so.",
        ),
        ("code", ASSIGNMENT_01_SHAPES),
        (
            "markdown",
            "## BetterCNN against CNNSimple\n\nThe same command twice; only `model.name` differs "
            "(`better_cnn` is your class, see `starter/seams.py`). Three epochs of MNIST here; in quick "
            "mode, a few steps of synthetic data.",
        ),
        ("code", ASSIGNMENT_01_RUNS),
        ("code", ASSIGNMENT_01_COMPARE),
        (
            "markdown",
            "## The 25-epoch runs\n\nPart of the grade is two 25-epoch runs of your network, on MNIST and "
            "on CIFAR-10 (augmented), each in a folder inside `assignments/assignment_01/runs/`. From a "
            "terminal at the repository root:\n\n"
            "```bash\n"
            "python starter/train.py --configs assets/configs.yml --override_args model.name=better_cnn \\\n"
            "    train.epochs=25 train.batch_size=128 optim.lr=0.002 run.folder=assignments/assignment_01/runs/mnist\n"
            "python starter/train.py --configs assets/configs.yml --override_args model.name=better_cnn \\\n"
            "    dataset.name=cifar10 data.augment=true train.epochs=25 train.batch_size=128 optim.lr=0.002 \\\n"
            "    run.folder=assignments/assignment_01/runs/cifar10\n"
            "```\n\n"
            "Then fill in `assignments/assignment_01/results.yaml`: for each dataset, `accuracy` is the "
            "final epoch's `val_acc` in percent with two decimals (the last line of the run's "
            "`metrics.jsonl`), and `run` the run folder, relative to the repository root. The grader "
            "checks each number against its run folder. On a GPU these runs take minutes; on a 2-core "
            "CPU, tens of minutes each.",
        ),
        ("markdown", "## Grade"),
        ("code", grade_cell(1, quick_only="not accuracy and not 25_epochs")),
    ]


ASSIGNMENT_02_TRAIN = f"""\
import shutil

run = RUNS / "a02-checkpoints"  # a fixed folder: launching again continues the run in it
shutil.rmtree(run, ignore_errors=True)  # a fresh run every time this cell runs
EVERY = 10 if QUICK else 200  # also save last.pt every EVERY optimizer steps, not only at epoch ends
CKPT = f"checkpoint.enabled=true checkpoint.every_steps={{EVERY}} checkpoint.keep_last=2"
{TRAIN_CMD} {{TRAIN}} {{CKPT}} course.impl={{IMPL}} run.folder={{run}}"""

ASSIGNMENT_02_LIST = """\
checkpoints = run / "checkpoints"
if checkpoints.is_dir():
    for path in sorted(checkpoints.iterdir()):
        print(f"{path.name:<16}{path.stat().st_size / 1e3:>10.1f} kB")
else:
    print(f"no {checkpoints}: the run saved no checkpoint (see its output above)")"""

ASSIGNMENT_02_RESUME = f"""\
MORE = "train.epochs=3" if QUICK else "train.epochs=4"  # one epoch more than the first launch
{TRAIN_CMD} {{TRAIN}} {{CKPT}} {{MORE}} course.impl={{IMPL}} run.folder={{run}}"""

ASSIGNMENT_02_USE = """\
!{sys.executable} starter/evaluate.py {run} --impl {IMPL}
!{sys.executable} starter/predict.py {run} --impl {IMPL} --index 0 --top 3"""

ASSIGNMENT_02_MALICIOUS = """\
import importlib

import torch

from starter.errors import CourseError

checkpoint = importlib.import_module(f"{IMPL}.assignment_02.checkpoint")


class Payload:
    \"\"\"Unpickling this calls print("pwned"); a real attack would run anything else instead.\"\"\"

    def __reduce__(self):
        return (print, ("pwned",))


malicious = RUNS / "a02-malicious.pt"
malicious.parent.mkdir(parents=True, exist_ok=True)
torch.save({"format": "dl-course-checkpoint/1", "engine": Payload()}, malicious)
try:
    checkpoint.load_checkpoint(malicious)
except CourseError as err:
    print(f"refused, as it should be: {err}")
except NotImplementedError as err:
    print(f"not implemented yet: {err}")
else:
    print("loaded WITHOUT an error: if 'pwned' is printed above, the file ran its code on this machine")"""

ASSIGNMENT_02_RESET = f"""\
{TRAIN_CMD} {{TRAIN}} {{CKPT}} course.impl={{IMPL}} run.folder={{run}} --reset"""


def assignment_02() -> list[tuple[str, str]]:
    intro = (
        "Implement `assignments/assignment_02/checkpoint.py` (the file format: atomic saves, loading "
        "that never runs code, RNG states, wrapped models' weights) and `manager.py` (`last.pt`, "
        "`best.pt`, resume, early stopping); the task is in `assignments/assignment_02/README.md`. This "
        "notebook trains with checkpoints, resumes, evaluates and predicts from a checkpoint, shows that "
        "a malicious file is refused, and grades your code."
    )
    return [
        ("markdown", header("assignment_02.ipynb", "Assignment 2: checkpoints", intro)),
        ("code", setup_cell(2)),
        (
            "markdown",
            "## Train with checkpoints\n\n`checkpoint.enabled=true` turns your `CheckpointManager` on "
            "(`starter/seams.py`); `run.folder` is fixed so that a second launch finds the checkpoints.",
        ),
        ("code", ASSIGNMENT_02_TRAIN),
        ("markdown", "`last.pt`, `best.pt` and the last `checkpoint.keep_last` epochs:"),
        ("code", ASSIGNMENT_02_LIST),
        (
            "markdown",
            "## Launch it again\n\nThe same command, with one more epoch. `checkpoint.resume=auto` (the "
            "default) continues from `last.pt`: the run says `resumed from ...` and trains only the epoch "
            "that is left. A run killed midway continues the same way, from its last save.",
        ),
        ("code", ASSIGNMENT_02_RESUME),
        (
            "markdown",
            "## Use a checkpoint\n\n`evaluate.py` measures the run's `best.pt` on the test set (the whole "
            "test set: in quick mode training evaluated one batch only, so the numbers differ); "
            "`predict.py` classifies one test image.",
        ),
        ("code", ASSIGNMENT_02_USE),
        (
            "markdown",
            "## A checkpoint must not run code\n\n`torch.load` unpickles, and a pickle can call any "
            'function. This cell writes a file whose unpickling calls `print("pwned")` and loads it '
            "with your `load_checkpoint`, which must refuse it (`weights_only=True`) without running it.",
        ),
        ("code", ASSIGNMENT_02_MALICIOUS),
        (
            "markdown",
            "## Start over\n\n`--reset` ignores the folder's checkpoints (`checkpoint.resume=none`): a new "
            "run from epoch 1 in the same folder, whose saves overwrite the old ones.",
        ),
        ("code", ASSIGNMENT_02_RESET),
        ("markdown", "## Grade"),
        ("code", grade_cell(2, quick_only="round_trip or rng or wrapped or early_stopping_counts")),
    ]


NOTEBOOKS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "00_quickstart.ipynb": quickstart,
    "assignment_01.ipynb": assignment_01,
    "assignment_02.ipynb": assignment_02,
    "assignment_07.ipynb": assignment_07,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook `name`, without outputs, with fixed cell ids."""
    nb = v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    stem = Path(name).stem.replace("_", "-")
    for i, (kind, source) in enumerate(NOTEBOOKS[name]()):
        make = v4.new_markdown_cell if kind == "markdown" else v4.new_code_cell
        nb.cells.append(make(source, id=f"{stem}-{i:02d}"))
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    """The exact text of notebooks/`name`."""
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = NOTEBOOKS_DIR / name
        text = render(name)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/build_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
