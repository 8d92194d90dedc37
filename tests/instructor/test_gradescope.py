"""The Gradescope upload (tools/gradescope.py): the right files, no solutions, a setup.sh
that installs what its assignment needs and nothing more, and, the real proof, a local
run of Gradescope's steps that grades the reference to full marks and the stub to zero.

setup.sh targets Gradescope's Ubuntu 22.04 image, which this machine is not: the tests
run it with apt-get and python3 replaced by stand-ins that log what they are asked to
install (simulate_setup), and compare that with what each assignment needs.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.instructor.grading import sandbox_unavailable
from tools.gradescope import setup_script

REPO = Path(__file__).resolve().parents[2]
# What each assignment's setup.sh must install, written out here rather than read from
# requirements/ (so a wrong requirements file fails this test).
BASE_PIP = {"torch", "torchvision", "numpy", "pyyaml", "tqdm", "matplotlib", "pytest", "pytest-timeout"}
EXTRA_PIP = {3: {"timm"}, 4: {"timm"}, 6: {"deepspeed"}, 8: {"wandb", "tensorboard"}, 9: {"deepspeed"},
             10: {"ffcv", "nvidia-dali-cuda120"}}  # fmt: skip
BASE_APT = {"python3", "python3-venv"}
COMPILER = {"build-essential", "python3-dev"}  # DeepSpeed's ops compile at run time; FFCV builds at install
EXTRA_APT = {6: COMPILER, 9: COMPILER, 10: COMPILER | {"pkg-config", "libopencv-dev", "libturbojpeg0-dev"}}
HEAVY = {"deepspeed", "ffcv", "nvidia-dali-cuda120", "wandb", "tensorboard", "timm", "ruff", "jupyter"}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Stand-ins for the image's commands: each logs its arguments to $LOG. `python3 -m venv DIR`
# also creates DIR/bin/python, a stand-in that logs as `venv-python`.
FAKE_APT_GET = '#!/bin/sh\necho "apt-get $*" >> "$LOG"\n'
FAKE_PYTHON3 = """#!/bin/sh
echo "python3 $*" >> "$LOG"
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "venv-python $*" >> "$LOG"\\n' > "$3/bin/python"
  chmod +x "$3/bin/python"
fi
"""
HIDDEN_TEST = """import pytest
from starter.config import ScheduleConfig


@pytest.mark.points(1)
def test_constant_schedule_keeps_the_base_lr(impl_module):
    cfg = ScheduleConfig(warmup_epochs=0.0, decay="none")
    assert impl_module("assignment_07.schedule").lr_at(5, cfg, 0.3, 10, 2) == 0.3
"""


def requirement_names(path: Path) -> set[str]:
    """The distribution names `pip install -r path` asks for, following `-r` includes."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.match(r"[\w.-]+", line)[0].lower())
    return names


def simulate_setup(root: Path) -> dict:
    """Run ROOT/source/setup.sh as Gradescope would (AUTOGRADER_ROOT=ROOT), with stand-ins
    for apt-get and python3; return what it installed: apt packages, pip packages (after
    -r files are read from the course in ROOT/source/source), and the pip commands in order."""
    shims, log = root / "shims", root / "setup.log"
    shims.mkdir()
    for name, text in (("apt-get", FAKE_APT_GET), ("python3", FAKE_PYTHON3)):
        (shims / name).write_text(text)
        os.chmod(shims / name, 0o755)
    path = f"{shims}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "LOG": str(log), "PATH": path}
    done = subprocess.run(["bash", str(root / "source/setup.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = log.read_text().splitlines()
    apt = {word for c in commands if c.startswith("apt-get install") for word in c.split()[2:] if word[0] != "-"}
    pips = [c.split()[4:] for c in commands if c.startswith("venv-python -m pip install")]
    pip = set()
    for args in pips:
        words = iter(args)
        for word in words:
            if word == "-r":
                pip |= requirement_names(root / "source/source" / next(words))
            elif word in ("--index-url", "-i", "--extra-index-url", "--progress-bar", "-c", "--constraint"):
                next(words)  # an option's value, not a package
            elif word[0] != "-":
                pip.add(word.lower())
    assert "python3 -m venv " + str(root / "venv") in commands, commands
    return {"apt": apt, "pip": pip - {"pip"}, "pip_commands": pips, "log": commands}


@pytest.mark.parametrize("assignment", range(1, 11))
def test_setup_sh_installs_what_the_assignment_needs_and_nothing_more(assignment, tmp_path):
    """Per assignment: pip gets the base set plus the assignment's own packages (Assignment 7:
    no DeepSpeed, DALI, FFCV, W&B, timm), apt gets a compiler and Python headers only where
    something compiles (6 and 9: DeepSpeed's ops; 10: FFCV, with its libraries), and PyTorch
    comes from its CPU index before anything else asks for it."""
    (tmp_path / "source").mkdir()
    (tmp_path / "source/setup.sh").write_text(setup_script(assignment))
    shutil.copytree(REPO / "requirements", tmp_path / "source/source/requirements")
    installed = simulate_setup(tmp_path)
    assert installed["apt"] == BASE_APT | EXTRA_APT.get(assignment, set()), installed["log"]
    assert installed["pip"] == BASE_PIP | EXTRA_PIP.get(assignment, set()), installed["log"]
    assert not (HEAVY - EXTRA_PIP.get(assignment, set())) & installed["pip"]
    first = next(args for args in installed["pip_commands"] if "torch" in args)
    assert first[first.index("--index-url") + 1] == CPU_INDEX and "-r" not in first, installed["log"]
    assert installed["pip_commands"][-1][-2:] == ["-r", f"requirements/assignment_{assignment:02d}.txt"]


def test_every_assignment_with_a_grader_has_its_requirements_file():
    graded = sorted(p.name for p in (REPO / "autograder").glob("assignment_[0-9]*") if p.is_dir())
    assert graded, "no graders found"
    for folder in graded:
        assert (REPO / "requirements" / f"{folder}.txt").is_file(), f"requirements/{folder}.txt is missing"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The zip for Assignment 7, with one hidden test."""
    tmp = tmp_path_factory.mktemp("gradescope")
    (tmp / "hidden/assignment_07").mkdir(parents=True)
    (tmp / "hidden/assignment_07/test_hidden_constant.py").write_text(HIDDEN_TEST)
    cmd = [sys.executable, str(REPO / "tools/gradescope.py"), "--assignment", "7", "--out", str(tmp / "dist"),
           "--hidden", str(tmp / "hidden")]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return tmp / "dist/autograder_a07.zip"


def unpack(bundle: Path, root: Path) -> Path:
    """Gradescope's layout: the zip's contents in ROOT/source."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for info in zipfile.ZipFile(bundle).infolist():  # extractall drops the permissions
        os.chmod(root / "source" / info.filename, info.external_attr >> 16 & 0o777)
    return root


def run_autograder(root: Path, submission: dict[str, Path]) -> subprocess.Popen:
    """Put `submission` (name in the upload -> file) in ROOT/submission and start the
    grading script as Gradescope would, with this Python first on PATH (no setup.sh)."""
    for name, source in submission.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / "submission" / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_"))}
    env.update(AUTOGRADER_ROOT=str(root), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    return subprocess.Popen(["bash", str(root / "source/run_autograder")], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


@pytest.fixture(scope="module")
def graded(bundle) -> dict[str, dict]:
    """Two submissions, the reference files uploaded at the top level and the stub uploaded
    as its assignment_07/ folder, graded one after the other: as root (Gradescope),
    tools/grade.py runs the submission as one unprivileged user and ends that user's
    processes when it finishes, so two at once would end each other's. That user must read
    the course, so the roots are folders every user can read (pytest's tmp folders are not)."""
    if os.geteuid() == 0 and (why := sandbox_unavailable()):
        pytest.skip(f"tools/grade.py's sandbox cannot run here: {why}")
    submissions = {
        "reference": {p.name: p for p in (REPO / "solutions/assignment_07").glob("*.py")},
        "stub": {
            "assignment_07/schedule.py": REPO / "assignments/assignment_07/schedule.py",
            "assignment_07/notes.md": REPO / "assignments/assignment_07/README.md",
        },
    }
    readable = Path(tempfile.mkdtemp(prefix="course-gradescope-"))
    readable.chmod(0o755)
    results = {}
    try:
        for name, files in submissions.items():
            (readable / name).mkdir(mode=0o755)
            root = unpack(bundle, readable / name)
            proc = run_autograder(root, files)
            output = proc.communicate(timeout=600)[0]
            assert proc.returncode == 0, f"{name}: {output[-3000:]}"
            results[name] = {**json.loads((root / "results/results.json").read_text()), "root": root}
        yield results
    finally:
        shutil.rmtree(readable, ignore_errors=True)


def test_the_zip_has_the_scripts_the_grader_and_no_solutions(bundle, tmp_path):
    names = set(zipfile.ZipFile(bundle).namelist())
    assert {"setup.sh", "run_autograder"} <= names
    for rel in ("tools/grade.py", "autograder/MANIFEST.sha256", "autograder/conftest.py", "autograder/stream.py",
                "autograder/assignment_07/test_schedule.py", "autograder/hidden/assignment_07/test_hidden_constant.py",
                "assignments/assignment_07/schedule.py", "starter/train.py", "requirements.txt",
                "tools/install_system_packages.sh"):  # fmt: skip
        assert f"source/{rel}" in names, f"source/{rel} missing from the zip"
    leaked = [n for n in names if n.startswith(("source/solutions/", "source/tests/instructor/", "source/.ci/"))]
    leaked += [n for n in names if n in ("source/tools/release.py", "source/tools/make_stubs.py")]
    assert not leaked, leaked
    root = unpack(bundle, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        assert os.access(root / "source" / script, os.X_OK), f"{script} is not executable"
        done = subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script}: {done.stderr}"
    reference = (REPO / "solutions/assignment_07/schedule.py").read_text()
    assert (root / "source/source/assignments/assignment_07/schedule.py").read_text() != reference
    assert not (root / "source/source/.git").exists(), "the course in the zip is files, not a git repository"


def test_the_zips_setup_sh_installs_the_base_set_only_for_assignment_7(bundle, tmp_path):
    """The setup.sh in the zip, run in the zip's own layout: Assignment 7 needs the base set."""
    installed = simulate_setup(unpack(bundle, tmp_path))
    assert installed["pip"] == BASE_PIP and installed["apt"] == BASE_APT, installed["log"]
    assert not {"deepspeed", "nvidia-dali-cuda120", "ffcv"} & installed["pip"]


def test_gradescope_grades_the_reference_to_full_marks(graded):
    results = graded["reference"]
    assert results["score"] == 17 == sum(t["max_score"] for t in results["tests"]), results["output"]
    hidden = [t for t in results["tests"] if "test_hidden_constant.py" in t["name"]]
    assert len(hidden) == 1 and hidden[0]["visibility"] == "hidden" and hidden[0]["score"] == 1


def test_gradescope_grades_the_stub_to_zero(graded):
    results = graded["stub"]
    assert results["score"] == 0 and len(results["tests"]) == 9, results["output"]
    graded_folder = results["root"] / "source/source/assignments/assignment_07"
    assert (graded_folder / "notes.md").is_file(), "the uploaded assignment_07/ folder was not the one graded"
