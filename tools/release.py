"""Export the student copy of the course (instructors only).

    python tools/release.py --out ../dl-course-student          # refuses a folder that is not empty
    python tools/release.py --out ../dl-course-student --force  # replaces that folder's contents

The student copy is every file git tracks (`git ls-files`, as it is in the working tree)
but the instructor-only ones in INSTRUCTOR_ONLY: reference solutions, hidden tests,
instructor tests, CI, and the grading and release tools. It then checks what it wrote:
no `solutions` folder, and no file that contains a non-trivial line of a solution block
(the lines between `# BEGIN SOLUTION` and `# END SOLUTION` in solutions/**.py; blank
lines, comments, bare `return`/`pass`-like lines, lines under 12 characters and lines
the starter code or the solutions outside their blocks have too are not). A leak
exits with status 1 and names the file; bad input exits with 2.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTRUCTOR_ONLY = [
    "solutions/", "autograder/hidden/", "tests/instructor/", ".ci/", "autograder/MANIFEST.sha256",
    "tools/release.py", "tools/make_stubs.py", "tools/gradescope.py", "tools/grade.py",
]  # fmt: skip
BEGIN, END = re.compile(r"^\s*# BEGIN SOLUTION\s*$"), re.compile(r"^\s*# END SOLUTION\s*$")
TRIVIAL = re.compile(r"(return|yield|pass|continue|break|raise|else:|try:|finally:)( [\w.]+)?|#.*|.{0,11}")


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def student_files(repo: Path = REPO) -> list[str]:
    """The files of the student copy, relative to `repo`."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return [p for p in listed.split("\0") if p and not p.startswith(tuple(INSTRUCTOR_ONLY)) and (repo / p).is_file()]


def split_solutions(solutions: Path) -> tuple[dict[str, str], list[str]]:
    """(every non-trivial line (stripped) inside a solution block, with where it comes
    from; every line outside the blocks, which the stubs carry anyway)."""
    lines: dict[str, str] = {}
    outside: list[str] = []
    for path in sorted(solutions.rglob("*.py")):
        inside = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if BEGIN.match(line) or END.match(line):
                inside = bool(BEGIN.match(line))
            elif inside and not TRIVIAL.fullmatch(line.strip()):
                lines.setdefault(line.strip(), f"{path.relative_to(solutions.parent).as_posix()}:{number}")
            elif not inside:
                outside.append(line)
    return lines, outside


def solution_lines(solutions: Path) -> dict[str, str]:
    """Every non-trivial line (stripped) inside a solution block, with where it comes from."""
    return split_solutions(solutions)[0]


def find_leaks(release: Path, solutions: Path) -> list[str]:
    """What in `release` gives a solution away: one message per leaking file or folder.
    A solution line that the starter code also has (`starter/**.py`, which every student
    gets), or that the solution files have outside their blocks too (the stubs carry those
    lines), gives nothing away: e.g. `except Exception as err:`, `if self.dist.is_main:`."""
    block_lines, outside = split_solutions(solutions)
    given = "\n".join([*(path.read_text() for path in release.glob("starter/**/*.py")), *outside])
    lines = {line: where for line, where in block_lines.items() if line not in given}
    leaks = []
    for path in sorted(release.rglob("*")):
        rel = path.relative_to(release).as_posix()
        if path.is_dir():
            if path.name == "solutions":
                leaks.append(f"{rel}/: a solutions folder")
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary data (e.g. MNIST) holds no Python source
        found = next((line for line in lines if line in text), None)
        if found is not None:
            leaks.append(f"{rel}: contains solution line {lines[found]}: {found!r}")
    return leaks


def export(out: Path, force: bool, repo: Path = REPO) -> list[str]:
    """Write the student copy into `out`; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        if not force:
            raise ValueError(f"--out {out} exists and is not empty (add --force to replace its contents)")
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    files = student_files(repo)
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, out / rel)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the student copy into")
    parser.add_argument("--force", action="store_true", help="replace the contents of a folder that is not empty")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if out == REPO or out in REPO.parents:
        parser.error(f"--out {args.out} is the repository or contains it; choose a folder outside it")
    if out.exists() and not out.is_dir():
        parser.error(f"--out {args.out} is a file, not a folder")
    try:
        files = export(out, args.force)
    except ValueError as err:
        parser.error(str(err))
    except subprocess.CalledProcessError as err:
        parser.error(f"git ls-files failed in {REPO}: {err.stderr.strip()}")
    leaks = find_leaks(out, REPO / "solutions")
    for leak in leaks:
        print(f"leak: {leak}", file=sys.stderr)
    if leaks:
        print(f"error: the student copy in {out} gives solutions away ({len(leaks)} leak(s) above)", file=sys.stderr)
        return 1
    print(f"wrote the student copy ({len(files)} files) to {out}; checked: no solution code in it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
