"""Build the Gradescope autograder upload for one assignment (instructors only).

    python tools/gradescope.py --assignment 7 --out dist                 # dist/autograder_a07.zip
    python tools/gradescope.py --assignment 7 --out dist --hidden HIDDEN # with HIDDEN/assignment_07/ tests

Upload the zip under "Configure Autograder" (base image: Ubuntu 22.04, whose Python is
3.10). Gradescope unzips it into /autograder/source, so the zip holds:
- `setup.sh` (run once, as root, when the image is built), written for this assignment
  only (setup_script): python3-venv and the system packages requirements/system-packages.txt
  lists for it (a compiler and Python headers only where something compiles: DeepSpeed's
  ops for 6 and 9, FFCV for 10), a venv in /autograder/venv, PyTorch's CPU build
  (Gradescope's graders have no GPU), then `pip install -r requirements/assignment_NN.txt`
  (the base set plus that assignment's packages: Assignment 7 gets no DeepSpeed, DALI or FFCV);
- `run_autograder` (run for every submission): copies the submitted files (the
  `assignment_NN/` folder, or its files at the top level) into
  `assignments/assignment_NN/` of the course, then runs the official grading command
  `python tools/grade.py --assignment N --out /autograder/results/results.json`;
- `source/`: the course as `tools/release.py` exports it for students, plus
  `tools/grade.py`, the hidden tests, and `autograder/MANIFEST.sha256` written for
  exactly these files (so on Gradescope the course is /autograder/source/source).

Both scripts read the root from `AUTOGRADER_ROOT` (default /autograder), so a submission
can be graded locally: unzip into ROOT/source, put the files in ROOT/submission, then
`AUTOGRADER_ROOT=ROOT bash ROOT/source/run_autograder` with a Python that has the
requirements first on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SYSTEM_PACKAGES = "requirements/system-packages.txt"  # which assignment needs which apt packages
BASE_APT = ["python3", "python3-venv"]  # the venv; its pip comes from ensurepip, not python3-pip
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # CPU wheels: ~200 MB instead of GBs of CUDA

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04,
# Python 3.10). It installs what Assignment {n} needs and nothing more:
#   pip: {requirements} (the base set plus the assignment's own packages)
#   apt: {why} ({system})
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
cd "$ROOT/source/source"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends {apt} >/dev/null
python3 -m venv "$ROOT/venv"
PIP=("$ROOT/venv/bin/python" -m pip install --progress-bar off)
"${{PIP[@]}}" --upgrade pip
# The graders have no GPU: PyTorch's CPU build, then the rest from PyPI (torch is then satisfied).
"${{PIP[@]}}" --index-url {torch_index} torch torchvision
"${{PIP[@]}}" -r {requirements}
"""
RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade Assignment {n} with tools/grade.py.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
REPO="$ROOT/source/source"
SUBMISSION="$ROOT/submission"
# The submission is the {folder}/ folder (also inside assignments/) or its files at the top.
FROM="$SUBMISSION"
for candidate in "$SUBMISSION/assignments/{folder}" "$SUBMISSION/{folder}"; do
  if [ -d "$candidate" ]; then FROM="$candidate"; break; fi
done
cp -R "$FROM"/. "$REPO/assignments/{folder}/"
PYTHON="$ROOT/venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p "$ROOT/results"
cd "$REPO"
exec "$PYTHON" tools/grade.py --assignment {n} --out "$ROOT/results/results.json"
"""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def system_packages(assignment: int, repo: Path = REPO) -> list[str]:
    """The apt packages `assignment` needs beyond pip: its line in requirements/system-packages.txt
    ("N: package package ..."; no line, none). tools/install_system_packages.sh reads the same table."""
    for line in (repo / SYSTEM_PACKAGES).read_text().splitlines():
        key, sep, packages = line.split("#", 1)[0].partition(":")
        if sep and int(key) == assignment:
            return packages.split()
    return []


def setup_script(assignment: int, repo: Path = REPO) -> str:
    """setup.sh for `assignment`: its system packages and requirements/assignment_NN.txt only."""
    requirements = f"requirements/assignment_{assignment:02d}.txt"
    if not (repo / requirements).is_file():
        raise RuntimeError(f"{requirements} is missing: every assignment needs its own set of packages")
    extra = system_packages(assignment, repo)
    why = " ".join(extra) if extra else "nothing beyond python3-venv"
    return SETUP_SH.format(n=assignment, requirements=requirements, why=why, system=SYSTEM_PACKAGES,
                           apt=" ".join(BASE_APT + extra), torch_index=TORCH_CPU_INDEX)  # fmt: skip


def stage(assignment: int, hidden: Path | None, staging: Path) -> None:
    """Lay out the zip's contents in `staging`."""
    folder = f"assignment_{assignment:02d}"
    setup = setup_script(assignment)
    source = staging / "source"
    release = [sys.executable, str(REPO / "tools/release.py"), "--out", str(source), "--no-git"]  # files only
    done = subprocess.run(release, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"tools/release.py failed: {done.stderr.strip()}")
    shutil.copy2(REPO / "tools/grade.py", source / "tools/grade.py")
    if hidden is not None:
        shutil.copytree(
            hidden / folder, source / "autograder/hidden" / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    for step in ("--write-manifest", "--check"):  # a manifest of exactly these files; would they grade?
        done = subprocess.run([sys.executable, str(source / "tools/grade.py"), step], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the bundled grader would refuse every submission: {done.stderr.strip()}")
    (staging / "setup.sh").write_text(setup)
    (staging / "run_autograder").write_text(RUN_AUTOGRADER.format(n=assignment, folder=folder))
    for script in ("setup.sh", "run_autograder"):
        os.chmod(staging / script, 0o755)


def write_zip(staging: Path, path: Path) -> int:
    """Zip `staging`'s contents (not the folder itself) with their permissions; return the file count."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            info = zipfile.ZipInfo.from_file(file, file.relative_to(staging).as_posix())
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", type=int, required=True, help="the assignment, e.g. 7")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write autograder_aNN.zip into")
    parser.add_argument("--hidden", type=Path, help="a folder of assignment_NN/ hidden tests to include")
    args = parser.parse_args(argv)
    valid = sorted(int(p.name.split("_")[1]) for p in (REPO / "autograder").glob("assignment_[0-9]*") if p.is_dir())
    if args.assignment not in valid:
        parser.error(f"no grader for assignment {args.assignment}; valid: {', '.join(map(str, valid))}")
    folder = f"assignment_{args.assignment:02d}"
    if args.hidden is not None and not (args.hidden / folder).is_dir():
        parser.error(f"--hidden {args.hidden}: no {folder}/ folder in it (expected HIDDEN/{folder}/test_*.py)")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file, not a folder")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            stage(args.assignment, args.hidden, Path(tmp))
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"autograder_a{args.assignment:02d}.zip"
        count = write_zip(Path(tmp), path)
    print(f"wrote {path} ({count} files); upload it in Gradescope's Configure Autograder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
