"""The student copy (tools/release.py): nothing instructor-only in it (files, README
sections), no solution code, the notebooks clone the student repository, and it works on
its own: it is a git repository with one commit, it trains, its autograder gives the stubs
zero, and the student's own `make test` passes in it.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.release import (
    INSTRUCTOR_BEGIN,
    INSTRUCTOR_END,
    INSTRUCTOR_ONLY,
    find_leaks,
    normalized_url,
    solution_lines,
    strip_instructor_sections,
)

REPO = Path(__file__).resolve().parents[2]
INSTRUCTOR_TOOLS = ["tools/release.py", "tools/make_stubs.py", "tools/gradescope.py", "tools/grade.py"]


def alone(**extra: str) -> dict:
    """The environment for a process in the release: nothing points back at this repository
    (nor an outer make's variables, e.g. a PYTEST_ARGS given to this run's `make test`)."""
    drop = ("PYTHON", "PYTEST_", "MAKE", "MFLAGS", "GIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
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
    files = {f for f in files if not f.startswith(".git/")}
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert files == {f for f in tracked if not f.startswith(tuple(INSTRUCTOR_ONLY)) and (REPO / f).is_file()}
    assert not [f for f in files if f.startswith(("solutions/", "autograder/hidden/", "tests/instructor/", ".ci/"))]
    assert not set(INSTRUCTOR_TOOLS) & files
    for rel in ("tools/install_system_packages.sh", "requirements.txt", "requirements/base.txt",
                "requirements/system-packages.txt", "assets/course_repo.txt", "Makefile"):  # fmt: skip
        assert rel in files, f"{rel} is missing from the release"
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


def test_the_release_readme_is_the_students(release):
    """No instructor-only section (Grading, CI, the reference) and no instructor tool named;
    everything else of the instructors' README is there, in order."""
    readme = (release / "README.md").read_text()
    assert "## Grading (instructors)" not in readme and "instructor-only" not in readme
    for absent in ("tools/grade.py", "tools/gradescope.py", "tools/release.py", "tools/make_stubs.py", ".ci/",
                   "tests/instructor", "course.impl=solutions"):  # fmt: skip
        assert absent not in readme, f"the student README mentions {absent}, which the release does not have"
    original = (REPO / "README.md").read_text()
    assert original.count(INSTRUCTOR_BEGIN) >= 1 and "## Grading (instructors)" in original
    lines = iter(original.splitlines())
    assert all(line in lines for line in readme.splitlines()), "the student README is not the README minus sections"
    assert "make test" in readme and "## Quick start" in readme and "## Data and licences" in readme


def test_instructor_sections_are_stripped_between_markers_and_unclosed_ones_refused():
    text = f"a\n{INSTRUCTOR_BEGIN}\nsecret\n{INSTRUCTOR_END}\nb\n  {INSTRUCTOR_BEGIN}\nmore\n{INSTRUCTOR_END}\n"
    assert strip_instructor_sections(text) == "a\nb\n"
    for broken in (f"a\n{INSTRUCTOR_BEGIN}\nsecret\n", f"{INSTRUCTOR_END}\n", f"{INSTRUCTOR_BEGIN}\n" * 2):
        with pytest.raises(ValueError, match="instructor-only"):
            strip_instructor_sections(broken, "X.md")


def test_the_release_is_a_git_repository_with_one_commit(release):
    log = subprocess.run(["git", "-C", release, "log", "--format=%an <%ae>|%s"], capture_output=True, text=True,
                         env=alone(), check=True).stdout.splitlines()  # fmt: skip
    assert log == ["course <course@localhost>|Course release"]
    status = subprocess.run(["git", "-C", release, "status", "--porcelain"], capture_output=True, text=True,
                            env=alone(), check=True).stdout  # fmt: skip
    assert status == "", f"files left out of the commit:\n{status}"
    branch = subprocess.run(["git", "-C", release, "branch", "--show-current"], capture_output=True, text=True)
    assert branch.stdout.strip() == "main"


def test_the_notebooks_of_the_release_clone_the_student_repository(release):
    text = (release / "assets/course_repo.txt").read_text()
    assert text == (REPO / "assets/course_repo.txt").read_text()
    url = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(url) == 1 and url[0].startswith("https://github.com/"), url
    notebooks = sorted((release / "notebooks").glob("*.ipynb"))
    assert notebooks, "the release has no notebooks"
    for path in notebooks:
        code = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        assert re.findall(r"REPO_URL = (.*)", code) == [json.dumps(url[0])], f"{path.name} does not clone {url[0]}"
    remotes = subprocess.run(["git", "remote", "-v"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert normalized_url(url[0]) not in {normalized_url(word) for word in remotes[1::3]}, "that is this repository"


def test_the_release_refuses_a_course_repo_that_is_the_instructors_repository(tmp_path):
    """A course whose notebooks would clone the instructors' repository (its git remote, in
    another spelling) is refused: students would get solutions/."""
    repo, out = tmp_path / "course", tmp_path / "out"
    (repo / "tools").mkdir(parents=True)
    (repo / "tools/release.py").write_text((REPO / "tools/release.py").read_text())
    (repo / "solutions").mkdir()
    (repo / "assets").mkdir()
    (repo / "assets/course_repo.txt").write_text("# the student repository\nhttps://github.com/Uni/DL-Course.git\n")
    for cmd in (["init", "-q"], ["remote", "add", "origin", "git@github.com:uni/dl-course"], ["add", "."]):
        subprocess.run(["git", *cmd], cwd=repo, env=alone(), check=True)
    done = run([sys.executable, "tools/release.py", "--out", out], cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "assets/course_repo.txt: https://github.com/Uni/DL-Course.git is this (instructor) repository" in done.stderr
    assert not (out / ".git").exists(), "a refused release must not be committed"
    (repo / "assets/course_repo.txt").write_text("https://github.com/uni/dl-course-student.git\n")
    assert run([sys.executable, "tools/release.py", "--out", out, "--force"], cwd=repo).returncode == 0


@pytest.mark.slow
def test_make_test_passes_in_a_fresh_release(tmp_path):
    """The student's own command, `make test`, in a fresh release: lint, then pytest, with
    this venv (VENV=...; -o keeps make from re-running the install, which would only find
    everything installed) and without the shared datasets (a student's clone has none).
    Limited to the tests not marked slow: the slow ones (notebook runs) run in this
    repository's own CI on the same files, and the ones that need solutions/ skip."""
    release = tmp_path / "release"
    done = run([sys.executable, REPO / "tools/release.py", "--out", release], cwd=REPO)
    assert done.returncode == 0, done.stderr
    venv = Path(sys.prefix)
    assert (venv / "bin/python").is_file(), f"not running in a venv: {sys.prefix}"
    cmd = ["make", "-C", release, "test", f"VENV={venv}", "-o", f"{venv}/.installed", "PYTEST_ARGS=-m 'not slow'"]
    env = alone()
    env.pop("DATA_ROOT", None)
    done = subprocess.run(cmd, cwd=release, env=env, capture_output=True, text=True, timeout=1200)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert "pip install" not in out, "make re-ran the install"
    assert "ruff" in out and re.search(r"\d+ passed", out), out[-3000:]
    assert not re.search(r"\d+ (failed|error)", out), out[-3000:]
