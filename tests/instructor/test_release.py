"""The student copy (tools/release.py): nothing instructor-only in it, no solution code,
and it works on its own: it trains, and its autograder gives the stubs zero.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.release import INSTRUCTOR_ONLY, find_leaks, solution_lines

REPO = Path(__file__).resolve().parents[2]
INSTRUCTOR_TOOLS = ["tools/release.py", "tools/make_stubs.py", "tools/gradescope.py", "tools/grade.py"]


def alone(**extra: str) -> dict:
    """The environment for a process in the release: nothing points back at this repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_"))}
    return {**env, **extra}


def run(cmd: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(list(map(str, cmd)), cwd=cwd, env=alone(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release")
    done = run([sys.executable, REPO / "tools/release.py", "--out", out], cwd=REPO)
    assert done.returncode == 0, done.stderr
    return out


def test_the_release_has_the_student_files_and_no_instructor_files(release):
    files = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert files == {f for f in tracked if not f.startswith(tuple(INSTRUCTOR_ONLY)) and (REPO / f).is_file()}
    assert not [f for f in files if f.startswith(("solutions/", "autograder/hidden/", "tests/instructor/", ".ci/"))]
    assert not set(INSTRUCTOR_TOOLS) & files
    assert "tools/install_system_packages.sh" in files
    solved = [f for f in tracked if f.startswith("solutions/assignment_") and f.endswith(".py")]
    assert "solutions/assignment_07/schedule.py" in solved
    for rel in solved:  # every reference file has its stub, which leaves the work to the student
        stub = release / "assignments" / rel.removeprefix("solutions/")
        assert stub.is_file(), f"no stub for {rel}"
        if "# BEGIN SOLUTION" in (REPO / rel).read_text():
            assert "raise NotImplementedError(" in stub.read_text(), f"{stub} is not a stub"


def test_the_release_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path):
    (tmp_path / "stale.txt").write_text("from an earlier release\n")
    done = run([sys.executable, REPO / "tools/release.py", "--out", tmp_path], cwd=REPO)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "--force" in done.stderr
    assert done.stderr.count("\n") == 1, "one line"
    done = run([sys.executable, REPO / "tools/release.py", "--out", tmp_path, "--force"], cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "stale.txt").exists() and (tmp_path / "starter/train.py").is_file()


def test_the_student_copy_trains_on_its_own(release, tmp_path):
    where = run([sys.executable, "-c", "import starter; print(starter.__file__)"], cwd=release)
    assert where.stdout.strip().startswith(str(release)), f"starter came from {where.stdout}{where.stderr}"
    done = run([sys.executable, "starter/train.py", "--configs", "assets/configs.yml", "--override_args",
                "dataset.name=synthetic", "train.epochs=1", "train.max_train_steps=5", "train.max_eval_steps=1",
                "data.num_workers=0", f"run.dir={tmp_path}"], cwd=release)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(tmp_path.glob("*/summary.json")), "the run wrote no summary.json"


def test_the_student_copy_grades_the_stubs_to_zero(release, tmp_path):
    out = tmp_path / "results.json"
    cmd = [sys.executable, "-m", "pytest", "autograder/assignment_07", "-p", "no:cacheprovider", "--gradescope", out]
    done = run(cmd, cwd=release)
    assert done.returncode != 0, done.stdout[-2000:]
    results = json.loads(out.read_text())
    assert results["score"] == 0 and len(results["tests"]) > 0
    assert all("assignments/assignment_07/" in t["output"] for t in results["tests"]), "stub failures name the file"


def test_a_planted_solution_line_is_detected(tmp_path):
    solutions, release = tmp_path / "solutions/assignment_99", tmp_path / "release"
    solutions.mkdir(parents=True)
    (solutions / "secret.py").write_text(
        "def answer(x):\n"
        "    # BEGIN SOLUTION\n"
        "    # a comment\n"
        "    try:\n"
        "        y = x * 41 + sum(range(x))\n"
        "    except Exception as err:\n"
        "        raise ValueError(x) from err\n"
        "    return y\n"
        "    # END SOLUTION\n"
        "\n"
        "outside_the_block = 'a line that is not a solution'\n"
    )
    assert list(solution_lines(tmp_path / "solutions")) == [
        "y = x * 41 + sum(range(x))", "except Exception as err:", "raise ValueError(x) from err"
    ]  # fmt: skip
    (release / "starter").mkdir(parents=True)
    (release / "starter/base.py").write_text("try:\n    pass\nexcept Exception as err:  # the starter has it\n")
    (release / "assignments").mkdir()
    (release / "assignments/clean.py").write_text(
        "outside_the_block = 'a line that is not a solution'\n# a comment\n    return y\nexcept Exception as err:\n"
    )
    (release / "data.bin").write_bytes(b"\xff\xfe\x00 y = x * 41 + sum(range(x))")  # binary: not read as text
    assert find_leaks(release, tmp_path / "solutions") == []

    (release / "notebooks").mkdir()
    (release / "notebooks/hint.ipynb").write_text('{"source": ["    y = x * 41 + sum(range(x))\\n"]}')
    (release / "extra/solutions").mkdir(parents=True)
    leaks = find_leaks(release, tmp_path / "solutions")
    assert len(leaks) == 2, leaks
    assert leaks[0].startswith("extra/solutions/: a solutions folder")
    assert leaks[1].startswith("notebooks/hint.ipynb: contains solution line solutions/assignment_99/secret.py:5")


def test_a_real_solution_line_in_a_stub_is_detected(release, tmp_path):
    """The check on the real solutions: a stub with one line of the reference leaks."""
    lines = [line for line, where in solution_lines(REPO / "solutions").items() if "assignment_07/" in where]
    assert lines, "no solution blocks found in solutions/assignment_07/"
    stub = tmp_path / "assignments/assignment_07/schedule.py"
    stub.parent.mkdir(parents=True)
    stub.write_text((release / "assignments/assignment_07/schedule.py").read_text())
    assert find_leaks(tmp_path, REPO / "solutions") == []
    stub.write_text(stub.read_text() + f"\n    {lines[-1]}\n")
    assert [leak.split(":")[0] for leak in find_leaks(tmp_path, REPO / "solutions")] == [
        "assignments/assignment_07/schedule.py"
    ]


def test_the_command_exits_1_naming_a_leaking_file(tmp_path):
    """End to end in a tiny git repository whose task statement quotes the reference."""
    repo, out = tmp_path / "course", tmp_path / "out"
    (repo / "tools").mkdir(parents=True)
    (repo / "tools/release.py").write_text((REPO / "tools/release.py").read_text())
    (repo / "solutions/assignment_01").mkdir(parents=True)
    (repo / "solutions/assignment_01/net.py").write_text(
        "def width():\n    # BEGIN SOLUTION\n    return 4 * 32 + 7  # the answer\n    # END SOLUTION\n"
    )
    (repo / "assignments/assignment_01").mkdir(parents=True)
    (repo / "assignments/assignment_01/README.md").write_text("Hint: `return 4 * 32 + 7  # the answer`\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    done = run([sys.executable, "tools/release.py", "--out", out], cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "leak: assignments/assignment_01/README.md: contains solution line" in done.stderr
    assert not (out / "solutions").exists() and not (out / "tools/release.py").exists()
