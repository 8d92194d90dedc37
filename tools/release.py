"""Export the student copy of the course (instructors only).

    python tools/release.py --out ../dl-course-student          # refuses a folder that is not empty
    python tools/release.py --out ../dl-course-student --force  # replaces that folder's contents
    python tools/release.py --out DIR --no-git                  # the files only (tools/gradescope.py)

The student copy is every file git tracks (`git ls-files`, as it is in the working tree)
but the instructor-only ones in INSTRUCTOR_ONLY: reference solutions, hidden tests,
instructor tests, CI, and the grading and release tools. Its `make test` passes on its
own (tests that need `solutions/` skip, saying so).

Markdown files lose their instructor-only sections: everything from a line
`<!-- instructor-only -->` to a line `<!-- /instructor-only -->` (both included), so the
README a student reads never mentions tools the copy does not have. Mark new
instructor-only text in any `.md` file that way; an unclosed marker is an error.

It then checks what it wrote: no `solutions` folder, and no file that contains a
non-trivial line of a solution block (the lines between `# BEGIN SOLUTION` and
`# END SOLUTION` in solutions/**.py; blank lines, comments, bare `return`/`pass`-like
lines, lines under 12 characters and lines the starter code or the solutions outside
their blocks have too are not); and that `assets/course_repo.txt`, the repository the
notebooks clone, is not one of this repository's git remotes (that would hand students
the solutions). A leak exits with status 1 and names the file; bad input exits with 2.

Last, the copy becomes a git repository with one commit (branch `main`, author
`course <course@localhost>`), ready to push to the student repository, and so that its
training runs record a commit in their `meta.json`.
"""

from __future__ import annotations

import argparse
import os
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
COURSE_REPO = "assets/course_repo.txt"  # the student repository's URL: what the notebooks clone
INSTRUCTOR_BEGIN, INSTRUCTOR_END = "<!-- instructor-only -->", "<!-- /instructor-only -->"
GIT_AUTHOR = ["-c", "user.name=course", "-c", "user.email=course@localhost", "-c", "commit.gpgsign=false"]
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
            elif not inside and path.relative_to(solutions).parts[0].startswith("assignment_"):
                outside.append(line)  # only files that have a stub: hidden tests are given to nobody
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


def strip_instructor_sections(text: str, where: str = "") -> str:
    """`text` (Markdown) without its instructor-only sections, markers included."""
    kept, inside = [], False
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker in (INSTRUCTOR_BEGIN, INSTRUCTOR_END):
            if (marker == INSTRUCTOR_BEGIN) == inside:
                raise ValueError(f"{where}:{number}: {marker} where {'a section ends' if inside else 'none is open'}")
            inside = marker == INSTRUCTOR_BEGIN
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{where}: {INSTRUCTOR_BEGIN} is never closed by {INSTRUCTOR_END}")
    return "".join(kept)


def normalized_url(url: str) -> str:
    """`git@github.com:a/b.git`, `https://github.com/a/b/` and `https://github.com/a/b.git` are one repository."""
    url = re.sub(r"^(?:ssh://)?git@([^:/]+)[:/]", r"https://\1/", url.strip())
    return url.rstrip("/").removesuffix(".git").lower()


def instructor_remotes(repo: Path) -> list[str]:
    """The URLs of `repo`'s git remotes (none when it has no remote)."""
    done = subprocess.run(["git", "remote", "-v"], cwd=repo, capture_output=True, text=True)
    return sorted({line.split()[1] for line in done.stdout.splitlines() if len(line.split()) >= 2})


def check_course_repo(release: Path, repo: Path = REPO) -> list[str]:
    """Problems with the URL the notebooks clone, as the release carries it."""
    path = release / COURSE_REPO
    if not path.is_file():
        return []  # a course without notebooks
    urls = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if len(urls) != 1:
        return [f"{COURSE_REPO}: expected one URL (the student repository), found {len(urls)}"]
    same = [u for u in instructor_remotes(repo) if normalized_url(u) == normalized_url(urls[0])]
    if same:
        return [f"{COURSE_REPO}: {urls[0]} is this (instructor) repository's remote {same[0]}, which has "
                "solutions/; name the student repository that this release is pushed to"]  # fmt: skip
    return []


def commit(release: Path) -> None:
    """Make `release` a git repository with one commit of everything in it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # e.g. a hook's GIT_DIR: not this one
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], [*GIT_AUTHOR, "commit", "-q", "-m", "Course release"]):
        subprocess.run(["git", *cmd], cwd=release, env=env, capture_output=True, text=True, check=True)


def export(out: Path, force: bool, repo: Path = REPO) -> list[str]:
    """Write the student copy into `out` (Markdown without instructor-only sections); return the files written."""
    files = student_files(repo)
    markdown = {rel: strip_instructor_sections((repo / rel).read_text(), rel) for rel in files if rel.endswith(".md")}
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        if not force:
            raise ValueError(f"--out {out} exists and is not empty (add --force to replace its contents)")
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, out / rel)
        if rel in markdown and markdown[rel] != (repo / rel).read_text():
            (out / rel).write_text(markdown[rel])
    return files


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the student copy into")
    parser.add_argument("--force", action="store_true", help="replace the contents of a folder that is not empty")
    parser.add_argument("--no-git", action="store_true", help="write the files only, no git repository")
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
    leaks = find_leaks(out, REPO / "solutions") + check_course_repo(out)
    for leak in leaks:
        print(f"leak: {leak}", file=sys.stderr)
    if leaks:
        print(f"error: the student copy in {out} gives solutions away ({len(leaks)} leak(s) above)", file=sys.stderr)
        return 1
    if not args.no_git:
        try:
            commit(out)
        except subprocess.CalledProcessError as err:
            print(f"error: git {' '.join(err.cmd[1:])} failed in {out}: {err.stderr.strip()}", file=sys.stderr)
            return 1
    made = "" if args.no_git else ", one commit on branch main"
    print(f"wrote the student copy ({len(files)} files{made}) to {out}; checked: no solution code in it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
