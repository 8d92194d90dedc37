"""The Gradescope upload (tools/gradescope.py): the right files, no solutions, and, the
real proof, a local run of Gradescope's steps that grades the reference to full marks
and the stub to zero.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HIDDEN_TEST = """import pytest
from starter.config import ScheduleConfig


@pytest.mark.points(1)
def test_constant_schedule_keeps_the_base_lr(impl_module):
    cfg = ScheduleConfig(warmup_epochs=0.0, decay="none")
    assert impl_module("assignment_07.schedule").lr_at(5, cfg, 0.3, 10, 2) == 0.3
"""


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
def graded(bundle, tmp_path_factory) -> dict[str, dict]:
    """Two submissions graded at once: the reference files uploaded at the top level,
    and the stub uploaded as its assignment_07/ folder."""
    submissions = {
        "reference": {p.name: p for p in (REPO / "solutions/assignment_07").glob("*.py")},
        "stub": {
            "assignment_07/schedule.py": REPO / "assignments/assignment_07/schedule.py",
            "assignment_07/notes.md": REPO / "assignments/assignment_07/README.md",
        },
    }
    roots = {name: unpack(bundle, tmp_path_factory.mktemp(name)) for name in submissions}
    started = {name: run_autograder(roots[name], files) for name, files in submissions.items()}
    results = {}
    for name, proc in started.items():
        output = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, f"{name}: {output[-3000:]}"
        results[name] = {**json.loads((roots[name] / "results/results.json").read_text()), "root": roots[name]}
    return results


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
