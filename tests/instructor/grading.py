"""Helpers for the tests of the official grading command (tools/grade.py): a copy of the
repository to grade in, a grading started as a subprocess, its results, and whether this
machine can run the sandbox (root, and a Python that an unprivileged user can run).

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
A7 = "autograder/assignment_07/test_schedule.py"
NOBODY = 65534


@cache
def sandbox_unavailable() -> str | None:
    """Why tools/grade.py cannot run student code as another user here (None: it can)."""
    if os.geteuid() != 0:
        return "the sandbox needs root (tools/grade.py runs student code as another user only as root)"
    probe = subprocess.run([sys.executable, "-c", "import torch, pytest"], cwd="/", capture_output=True, text=True,
                           user=NOBODY, group=NOBODY, extra_groups=[])  # fmt: skip
    if probe.returncode != 0:
        return (
            f"an unprivileged user cannot run {sys.executable} here (it lives under a private folder, e.g. a pyenv "
            "in /root); CI builds its venv from /usr/bin/python3"
        )
    return None


def sandbox_args(name: str) -> list[str]:
    """grade.py's options for one grading: a user of its own (gradings that run at once must
    not end each other's processes), or --no-sandbox where root cannot use one."""
    if os.geteuid() != 0:
        return []
    return ["--no-sandbox"] if sandbox_unavailable() else ["--sandbox-user", f"course-test-{zlib.crc32(name.encode())}"]


def readable_folder() -> Path:
    """A fresh folder that every user can read (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="course-grade-"))
    folder.chmod(0o755)
    return folder


def copy_repo(dest: Path) -> Path:
    """The repository's files (tracked, or new and not ignored) copied into `dest`, with a
    manifest that matches them: tampering starts from a tree the grader accepts."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout  # fmt: skip
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    for folder in [dest, *dest.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
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


def run_scenarios(scenarios, folder: Path) -> dict[str, dict]:
    """Grade every scenario(tmp) -> (repo, extra args) at once; the results by name, each
    with its `tmp` folder."""
    started = {}
    for scenario in scenarios:
        name = scenario.__name__
        tmp = folder / name
        tmp.mkdir(mode=0o755)
        repo, args = scenario(tmp)
        out = tmp / "results.json"
        started[name] = (grade(repo, "--assignment", 7, "--out", out, *sandbox_args(name), *args), tmp)
    return {name: {**finish(proc, tmp / "results.json"), "tmp": tmp} for name, (proc, tmp) in started.items()}
