"""The official grading command (tools/grade.py): it grades, and student code cannot
forge the grade. Every test works in a copy of the repository (its git files, as they
are in the working tree), never in this one. The full gradings (SCENARIOS) are
independent, so they run at once, in one fixture; each test then checks one of them.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
A7 = "autograder/assignment_07/test_schedule.py"
FIRST_TEST = f"{A7}::test_lr_at_matches_the_formula_at_random_steps"
HIDDEN_TEST = """import pytest
from starter.config import ScheduleConfig


@pytest.mark.points(1)
def test_warmup_starts_at_the_start_lr(impl_module):
    cfg = ScheduleConfig(warmup_epochs=1.0, warmup_start_lr=0.25, decay="cosine")
    assert impl_module("assignment_07.schedule").lr_at(0, cfg, 1.0, 10, 3) == 0.25
"""
STALE_TEST = "import pytest\n\n\n@pytest.mark.points(5)\ndef test_stale():\n    assert False\n"


def copy_repo(dest: Path) -> Path:
    """The repository's files (tracked, or new and not ignored) copied into `dest`, with a
    manifest that matches them: tampering starts from a tree the grader accepts."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout  # fmt: skip
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    assert grade(dest, "--write-manifest").wait() == 0
    return dest


def grade(repo: Path, *args) -> subprocess.Popen:
    """Start `python tools/grade.py ARGS` in `repo`, with none of our Python settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_"))}
    cmd = [sys.executable, str(repo / "tools/grade.py"), *map(str, args)]
    return subprocess.Popen(cmd, cwd=repo.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, out: Path) -> dict:
    """Wait for a grading; its results.json (which must exist), exit status and output."""
    stdout, stderr = proc.communicate(timeout=600)
    assert out.is_file(), f"no results.json: {stderr[-3000:]}"
    return {**json.loads(out.read_text()), "returncode": proc.returncode, "stdout": stdout, "stderr": stderr}


def submit(repo: Path, source: str) -> None:
    """A student's assignments/assignment_07/schedule.py."""
    (repo / "assignments/assignment_07/schedule.py").write_text(source)


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


def writes_results_json(tmp: Path) -> tuple[Path, list]:
    """At import: forge results.json, and leave a process that keeps forging it."""
    repo, out, fake = copy_repo(tmp / "repo"), tmp / "results.json", tmp / "fake.json"
    fake.write_text(json.dumps({"score": 16.0, "output": "forged", "tests": []}))
    forger = f"exec >/dev/null 2>&1; echo $$ >> {tmp / 'pids'}; while :; do cp {fake} {out}; sleep 0.05; done"
    submit(repo, f"import shutil, subprocess\nshutil.copy({str(fake)!r}, {str(out)!r})\n"
                 f"subprocess.Popen(['sh', '-c', {forger!r}])\n")  # fmt: skip
    return repo, []


def forges_a_record(tmp: Path) -> tuple[Path, list]:
    """Reads the stream's pipe and token out of the grader's plugin, and reports a pass."""
    repo = copy_repo(tmp / "repo")
    submit(repo, "import json, os\nimport autograder.stream as s\n"
                 f"line = {{'test': {{'nodeid': {FIRST_TEST!r}, 'status': 'passed'}}, 'token': s._token}}\n"
                 "os.write(int(s._fd), (json.dumps(line) + '\\n').encode())\n")  # fmt: skip
    return repo, []


SCENARIOS = [reference_with_hidden_tests, stubs, hidden_test_that_does_not_import, exits_at_import, hangs,
             writes_results_json, forges_a_record]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """Every scenario graded (at once), by name."""
    started = {}
    for scenario in SCENARIOS:
        tmp = tmp_path_factory.mktemp(scenario.__name__)
        repo, args = scenario(tmp)
        started[scenario.__name__] = (grade(repo, "--assignment", 7, "--out", tmp / "results.json", *args), tmp)
    results = {name: {**finish(proc, tmp / "results.json"), "tmp": tmp} for name, (proc, tmp) in started.items()}
    yield results
    pids = results["writes_results_json"]["tmp"] / "pids"
    for pid in pids.read_text().split() if pids.exists() else []:
        try:
            os.kill(int(pid), signal.SIGKILL)  # only if the grader failed to
        except ProcessLookupError:
            pass


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


def test_a_submission_that_writes_results_json_loses_to_the_grader(runs):
    results = runs["writes_results_json"]
    time.sleep(0.3)  # a forger still alive would rewrite the file within 0.05 s
    assert results["returncode"] == 0, results["stderr"][-3000:]
    on_disk = json.loads((results["tmp"] / "results.json").read_text())
    assert on_disk["output"] != "forged" and on_disk["score"] == results["score"] == 0
    assert len(on_disk["tests"]) == 8 and "tools/grade.py" in on_disk["output"]


def test_forged_records_in_the_grading_stream_refuse_the_grade(runs):
    results = runs["forges_a_record"]
    assert results["returncode"] == 2 and f"{FIRST_TEST} was reported twice" in results["stderr"]
    assert results["score"] == 0 and results["tests"] == []


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
