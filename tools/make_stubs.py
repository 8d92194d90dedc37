"""Generate the students' stubs from the reference solutions (instructors only).

    python tools/make_stubs.py          # write assignments/assignment_NN/*.py
    python tools/make_stubs.py --check  # exit 1 if a committed stub is out of date (CI)

`solutions/` is the single source. In each solution file, every block between

    # BEGIN SOLUTION
    ...
    # END SOLUTION

(inside a function) becomes, in `assignments/`, one line at the same indentation:

    raise NotImplementedError("A7: implement lr_at in assignments/assignment_07/schedule.py")

Everything else (imports, signatures, type hints, docstrings, helper classes) is copied
as is, so the stub keeps the interface and its documentation. Files other than .py in
`solutions/` are instructor-only and not copied; each assignment's task statement is
`assignments/assignment_NN/README.md`, written by hand.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE_LENGTH = 120  # pyproject.toml's [tool.ruff] line-length
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?def[ \t]+(?P<name>\w+)")
CLASS = re.compile(r"^(?P<indent>[ \t]*)class[ \t]+(?P<name>\w+)")


class StubError(Exception):
    pass


def enclosing_name(lines: list[str], index: int, indent: int) -> str:
    """`Class.method` or `function` that contains line `index` (indented by `indent`)."""
    names, limit = [], indent
    for line in reversed(lines[:index]):
        for pattern in (DEF, CLASS):
            m = pattern.match(line)
            if m and len(m["indent"]) < limit:
                if pattern is CLASS and not names:
                    return ""  # a class body is not a function
                names.append(m["name"])
                limit = len(m["indent"])
                break
        if limit == 0:
            break
    return ".".join(reversed(names))


def raise_line(indent: str, message: str) -> str:
    """The stub's raise statement, wrapped as `ruff format` would wrap it, so that
    formatting the repository never makes a committed stub differ from its source."""
    line = f'{indent}raise NotImplementedError("{message}")\n'
    if len(line) - 1 <= LINE_LENGTH:
        return line
    return f'{indent}raise NotImplementedError(\n{indent}    "{message}"\n{indent})\n'


def make_stub(source: str, assignment: int, stub_path: str) -> str:
    """The stub text for one solution file; raises StubError on malformed markers."""
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = BEGIN.match(lines[i])
        if not m:
            if END.match(lines[i]):
                raise StubError(f"line {i + 1}: END SOLUTION without BEGIN SOLUTION")
            out.append(lines[i])
            i += 1
            continue
        indent = m["indent"]
        name = enclosing_name(lines, i, len(indent))
        if not name:
            raise StubError(f"line {i + 1}: a solution block must be inside a function")
        end = next((j for j in range(i + 1, len(lines)) if END.match(lines[j]) or BEGIN.match(lines[j])), None)
        if end is None or not END.match(lines[end]):
            raise StubError(f"line {i + 1}: BEGIN SOLUTION without its END SOLUTION")
        message = f"A{assignment}: implement {name} in {stub_path}"
        out.append(raise_line(indent, message))
        i = end + 1
    stub = "".join(out)
    ast.parse(stub)  # a stub that does not even import would grade nothing
    return stub


def expected_stubs(repo: Path = REPO) -> dict[Path, str]:
    """Every stub file that the solutions imply, by path, with its text."""
    stubs = {}
    for folder in sorted((repo / "solutions").glob("assignment_*")):
        assignment = int(folder.name.split("_")[1])
        for src in sorted(folder.rglob("*.py")):
            rel = src.relative_to(repo / "solutions")
            stub_path = f"assignments/{rel.as_posix()}"
            try:
                stubs[repo / stub_path] = make_stub(src.read_text(), assignment, stub_path)
            except (StubError, SyntaxError) as err:
                raise StubError(f"{src.relative_to(repo)}: {err}") from None
    return stubs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stubs that are out of date")
    args = parser.parse_args(argv)
    try:
        stubs = expected_stubs()
    except StubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stale = [path for path, text in stubs.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(REPO)} (run: python tools/make_stubs.py)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stubs[path])
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
