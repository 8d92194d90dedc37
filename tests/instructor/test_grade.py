"""The official grading command (tools/grade.py): it grades, and student code cannot
forge the grade. Every test works in a copy of the repository (its git files, as they
are in the working tree), never in this one. The full gradings (SCENARIOS) are
independent, so they run at once, in one fixture; each test then checks one of them.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.instructor.grading import (
    A7,
    REPO,
    copy_repo,
    finish,
    grade,
    readable_folder,
    run_scenarios,
    submit,
)

HIDDEN_TEST = """import pytest
from starter.config import ScheduleConfig


@pytest.mark.points(1)
def test_warmup_starts_at_the_start_lr(impl_module):
    cfg = ScheduleConfig(warmup_epochs=1.0, warmup_start_lr=0.25, decay="cosine")
    assert impl_module("assignment_07.schedule").lr_at(0, cfg, 1.0, 10, 3) == 0.25
"""
STALE_TEST = "import pytest\n\n\n@pytest.mark.points(5)\ndef test_stale():\n    assert False\n"


# ---------------------------------------------------------------- scenarios: (repo, extra arguments)


def reference_with_hidden_tests(tmp: Path) -> tuple[Path, list]:
    repo = copy_repo(tmp / "repo")
    stale = repo / "autograder/hidden/assignment_07/test_stale.py"  # from an earlier --hidden: must go
    stale.parent.mkdir(parents=True)
    stale.write_text(STALE_TEST)
    (tmp / "hidden/assignment_07").mkdir(parents=True)
    (tmp / "hidden/assignment_07/test_hidden_start.py").write_text(HIDDEN_TEST)
    return repo, ["--impl", "solutions", "--hidden", tmp / "hidden"]


def stubs(tmp: Path) -> tuple[Path, list]:
    return copy_repo(tmp / "repo"), []


def exits_at_import(tmp: Path) -> tuple[Path, list]:
    repo = copy_repo(tmp / "repo")
    submit(repo, "import os\n\nos._exit(0)  # pytest stops here, with status 0, before any result\n")
    return repo, []


def hidden_test_that_does_not_import(tmp: Path) -> tuple[Path, list]:
    (tmp / "hidden/assignment_07").mkdir(parents=True)
    (tmp / "hidden/assignment_07/test_broken.py").write_text("def test_broken(:\n    pass\n")
    return copy_repo(tmp / "repo"), ["--hidden", tmp / "hidden"]


def hangs(tmp: Path) -> tuple[Path, list]:
    """Sleeps forever at import, deaf to pytest-timeout's alarm: only the time limit stops it."""
    repo = copy_repo(tmp / "repo")
    submit(repo, "import signal, time\n\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(3600)\n")
    return repo, ["--time-limit", 8]


SCENARIOS = [reference_with_hidden_tests, stubs, hidden_test_that_does_not_import, exits_at_import, hangs]


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    """Every scenario graded (at once), by name."""
    folder = readable_folder()
    yield run_scenarios(SCENARIOS, folder)
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- tests


def test_the_committed_manifest_is_up_to_date():
    proc = grade(REPO, "--check")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"{stderr}\nrun: python tools/grade.py --write-manifest, then commit it"


def test_the_reference_earns_every_point_hidden_tests_included(runs):
    results = runs["reference_with_hidden_tests"]
    assert results["returncode"] == 0, results["stderr"][-3000:]
    assert results["score"] == 17 == sum(t["max_score"] for t in results["tests"]), results["stdout"][-3000:]
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["A7 test_hidden_start.py::test_warmup_starts_at_the_start_lr"]["visibility"] == "hidden"
    assert not [name for name in by_name if "stale" in name], "autograder/hidden/ is replaced, not added to"
    assert "official points" in results["stdout"] and "17 / 17" in results["stdout"]


def test_the_stubs_earn_nothing(runs):
    results = runs["stubs"]
    assert results["returncode"] == 0, "grading completed, whatever the score"
    assert results["score"] == 0 and len(results["tests"]) == 8
    assert all("implement" in t["output"] for t in results["tests"])


def test_tests_that_do_not_collect_refuse_the_grade_and_say_why(runs):
    results = runs["hidden_test_that_does_not_import"]
    assert results["returncode"] == 2 and "error: grading refused: collecting the tests failed" in results["stderr"]
    assert results["score"] == 0 and "SyntaxError" in results["output"], "Gradescope shows pytest's own words"


def test_a_submission_that_exits_at_import_earns_nothing(runs):
    results = runs["exits_at_import"]
    assert results["returncode"] == 0, results["stderr"][-3000:]
    assert results["score"] == 0 and len(results["tests"]) == 8
    assert all(t["output"].startswith("no result: the test process ended early") for t in results["tests"])
    assert "8 test(s) got no result" in results["output"]


def test_a_submission_that_hangs_is_stopped_at_the_time_limit_and_earns_nothing(runs):
    results = runs["hangs"]
    assert results["returncode"] == 0, results["stderr"][-3000:]
    assert results["score"] == 0 and len(results["tests"]) == 8
    assert all("killed at the time limit of 8 s" in t["output"] for t in results["tests"])


@pytest.mark.parametrize(
    "tamper, named",
    [
        (lambda r: (r / A7).write_text((r / A7).read_text().replace("REL = 1e-9", "REL = 1.0")), f"changed {A7}"),
        (lambda r: (r / "autograder/results.py").unlink(), "missing autograder/results.py"),
        (lambda r: (r / "starter/sitecustomize.py").write_text(""), "extra starter/sitecustomize.py"),
        (
            lambda r: (r / "assignments/assignment_07/conftest.py").write_text(""),
            "assignments/assignment_07/conftest.py",
        ),
        (lambda r: (r / "pytest.ini").write_text("[pytest]\naddopts = -p no:autograder\n"), "unexpected pytest.ini"),
        (lambda r: (r / "autograder/MANIFEST.sha256").unlink(), "autograder/MANIFEST.sha256 is missing"),
    ],
    ids=["changed-test", "missing-file", "extra-file", "student-conftest", "pytest-ini", "no-manifest"],
)
def test_a_tampered_tree_is_refused_naming_the_file(tmp_path, tamper, named):
    repo = copy_repo(tmp_path / "repo")
    tamper(repo)
    results = finish(grade(repo, "--assignment", 7, "--out", tmp_path / "results.json"), tmp_path / "results.json")
    assert results["returncode"] == 2
    assert results["stderr"].startswith("error: grading refused: ") and results["stderr"].count("\n") == 1
    assert named in results["stderr"]
    assert results["score"] == 0 and named in results["output"], "Gradescope shows the student why"
