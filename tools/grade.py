"""The official grading command: grade one assignment, trusting nothing the student's code
can write (instructors, and Gradescope through tools/gradescope.py).

    python tools/grade.py --assignment 7 --out results.json                   # assignments/ (the student's)
    python tools/grade.py --assignment 7 --impl solutions --out results.json  # the reference
    python tools/grade.py --assignment 7 --hidden HIDDEN --out results.json   # plus hidden tests
    python tools/grade.py --write-manifest    # after changing a grader or starter file; commit it
    python tools/grade.py --check             # only check the grader's files against the manifest

How (it trusts nothing the student's code can write; the README's threat model says what
is prevented, what is detected and what remains):
0. As root (Gradescope), the student's code runs as an unprivileged user (`--sandbox-user`,
   created on first use; `--no-sandbox` opts out) that cannot write the grader's files or
   the results, nor signal this process (autograder/sandbox.py).
1. Integrity. `autograder/MANIFEST.sha256` holds the sha256 of every file the grade
   depends on (`autograder/` but `hidden/`, `starter/`, `assets/configs.yml`,
   `pyproject.toml`, this file). Grading is refused when one differs, is missing or is
   extra, when a `conftest.py` exists anywhere but `autograder/conftest.py`, or when a
   pytest configuration file appears that the manifest does not list. The same files
   (and the hidden tests) are checked again after each pytest run.
2. `--hidden HIDDEN` (a folder of `assignment_NN/` test folders) replaces
   `autograder/hidden/`; its tests are graded with hidden visibility.
3. A child `pytest --collect-only` lists the tests and their points; a second child runs
   them and streams one record per finished test over an inherited pipe
   (`autograder/stream.py`). Points come from the collection, never from the run. A
   test without a record (the process exited or was killed early) earns nothing; a test
   reported twice, or a line the grader did not write, refuses the grade. Inside the child
   a guard (autograder/guard.py) reports tampering it sees (imports of the grader's code,
   writes to its files, introspection of pytest, patched pytest internals): that refuses
   the grade too. Every process of the run (its session, anything carrying its marker and,
   sandboxed, every process of the sandbox user) is ended before the results are written;
   one that left the session refuses the grade.
4. This process writes `--out` (Gradescope's results.json, replacing whatever is there)
   and prints the points table.

Exit status: 0 when grading completed, whatever the score; 2 on bad input, or when the
grade is refused (then `--out` still gets a zero score whose output says why).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = "autograder/MANIFEST.sha256"
GRADED_TREES = ["autograder", "starter"]
GRADED_FILES = ["assets/configs.yml", "pyproject.toml", "tools/grade.py"]
PYTEST_CONFIGS = {"conftest.py", "pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg"}
NO_RESULT = "no result: the test process ended early"


class Refused(Exception):
    """The grade cannot be trusted; the message says why (one line), `details` may show more."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


# ---------------------------------------------------------------- integrity


def graded_files(repo: Path) -> list[str]:
    """Every file the grade depends on, relative to `repo`, as the manifest lists them."""
    found = [f for f in GRADED_FILES if (repo / f).is_file()]
    for tree in GRADED_TREES:
        for folder, dirs, files in os.walk(repo / tree):
            dirs[:] = [d for d in dirs if d != "__pycache__" and Path(folder, d) != repo / "autograder/hidden"]
            found += [Path(folder, f).relative_to(repo).as_posix() for f in files if not f.endswith(".pyc")]
    return sorted(set(found) - {MANIFEST})


def hashes(repo: Path, paths: list[str]) -> dict[str, str]:
    return {p: hashlib.sha256((repo / p).read_bytes()).hexdigest() for p in paths}


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    changed = [f"changed {p}" for p in sorted(expected.keys() & actual.keys()) if expected[p] != actual[p]]
    return (
        changed
        + [f"missing {p}" for p in sorted(expected.keys() - actual.keys())]
        + [f"extra {p}" for p in sorted(actual.keys() - expected.keys())]
    )


def write_manifest(repo: Path) -> None:
    lines = [f"{digest}  {path}\n" for path, digest in hashes(repo, graded_files(repo)).items()]
    header = (
        "# sha256 of every file the official grade depends on; regenerate: python tools/grade.py --write-manifest\n"
    )
    (repo / MANIFEST).write_text(header + "".join(lines))


def read_manifest(repo: Path) -> dict[str, str]:
    if not (repo / MANIFEST).is_file():
        raise Refused(f"{MANIFEST} is missing (instructors: python tools/grade.py --write-manifest)")
    entries = {}
    for line in (repo / MANIFEST).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, _, path = line.partition("  ")
            entries[path] = digest
    return entries


def check_integrity(repo: Path) -> None:
    manifest = read_manifest(repo)
    problems = differences(manifest, hashes(repo, graded_files(repo)))
    for folder, dirs, files in os.walk(repo):
        if Path(folder) == repo:
            dirs[:] = [d for d in dirs if d not in (".venv", ".git")]
        for name in PYTEST_CONFIGS & set(files):
            path = Path(folder, name).relative_to(repo).as_posix()
            if (name == "conftest.py" and path != "autograder/conftest.py") or path not in manifest:
                problems.append(f"unexpected {path}")
    if problems:
        raise Refused(
            f"the grader's files are not the ones in {MANIFEST}: {', '.join(problems)} "
            "(instructors, if you meant to change them: python tools/grade.py --write-manifest)"
        )


# ---------------------------------------------------------------- the pytest children


def run_pytest(args: list[str], time_limit: float, capture: bool, sandbox) -> tuple[int | None, list[dict], str]:
    """Run `python -m pytest ARGS -p autograder.stream` in a session of its own, as the
    sandbox's user; return its exit status (None when killed at the time limit), the
    messages it streamed and, when `capture`, its output. Refused when the stream holds a
    line the grader did not write, when the guard saw tampering, or when a process of the
    run left its session."""
    token, marker = secrets.token_hex(16), secrets.token_hex(8)
    read_fd, write_fd = os.pipe()
    token_read, token_write = os.pipe()  # the token travels by pipe: /proc/<pid>/environ would show it
    os.write(token_write, token.encode())
    os.close(token_write)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    # No bytecode files: the child writes nothing beside the grader's files (the guard forbids it).
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1", AUTOGRADER_STREAM_FD=str(write_fd),
               AUTOGRADER_TOKEN_FD=str(token_read))  # fmt: skip
    cmd = [sys.executable, "-m", "pytest", *args, "-c", "pyproject.toml", "--rootdir", ".",
           "-p", "no:cacheprovider", "-p", "pytest_timeout", "-p", "autograder.stream"]  # fmt: skip
    output = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT) if capture else {}
    proc = subprocess.Popen(cmd, cwd=REPO, env=sandbox.environment(env, marker), pass_fds=[write_fd, token_read],
                            start_new_session=True, stdin=subprocess.DEVNULL, **output,
                            **sandbox.popen_args())  # fmt: skip
    os.close(write_fd)
    os.close(token_read)
    fds = [read_fd] + ([proc.stdout.fileno()] if capture else [])
    received, killed = supervise(proc, fds, time.monotonic() + time_limit, sandbox, marker)
    os.close(read_fd)
    if capture:
        proc.stdout.close()
    messages, tampering = [], []
    for line in received[read_fd].decode(errors="replace").splitlines():
        try:
            message = json.loads(line)
            assert isinstance(message, dict) and message.pop("token") == token
        except (ValueError, AssertionError, KeyError):
            raise Refused("a line in the grading stream was not written by the grader (tampering)") from None
        if "tamper" in message:
            tampering.append(str(message["tamper"]))
        else:
            messages.append(message)
    if tampering:
        raise Refused(f"tampering detected: {'; '.join(tampering)[:2000]}")
    if sandbox.ended:
        raise Refused(f"a process of the submission left the grading session: {', '.join(sandbox.ended)[:2000]}")
    captured = received[fds[-1]].decode(errors="replace") if capture else ""
    return None if killed else proc.returncode, messages, captured


def supervise(proc: subprocess.Popen, fds: list[int], deadline: float, sandbox, marker: str) -> tuple[dict, bool]:
    """Read `fds` until `proc` exits or the deadline passes (ending, once a second, any
    process of the run that left its session), then end every process of the run (the
    child at the deadline, and anything it started), then take what is left in the pipes
    without waiting for a writer that escaped. Returns what each fd gave and whether the
    child was killed at the deadline."""
    received, open_fds = {fd: b"" for fd in fds}, list(fds)
    next_scan = time.monotonic() + 1
    while proc.poll() is None and time.monotonic() < deadline:
        if time.monotonic() > next_scan:
            if any(escaped for escaped, _ in sandbox.processes(proc.pid, marker).values()):
                sandbox.end_processes(proc.pid, marker)  # records the escape; the grade will be refused
            next_scan = time.monotonic() + 1
        if not open_fds:  # the child closed its pipes: just wait for it
            try:
                proc.wait(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
            continue
        for fd in select.select(open_fds, [], [], 0.2)[0]:
            chunk = os.read(fd, 1 << 16)
            received[fd] += chunk
            if not chunk:  # end of file (a closed pipe stays "ready")
                open_fds.remove(fd)
        if b'"tamper"' in received[fds[0]]:  # the guard saw tampering: nothing after it counts
            break
    killed = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    sandbox.end_processes(proc.pid, marker)
    for fd in open_fds:
        while select.select([fd], [], [], 0)[0] and (chunk := os.read(fd, 1 << 16)):
            received[fd] += chunk
    return received, killed


def collect(paths: list[str], impl: str, sandbox) -> dict[str, dict]:
    """The graded tests by node id, in order, with their points and visibility."""
    args = [*paths, f"--impl={impl}", "--collect-only", "-q"]
    returncode, messages, output = run_pytest(args, 600, capture=True, sandbox=sandbox)
    expected = {m["collected"]: m for m in messages if "collected" in m}
    if returncode != 0 or not expected:
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise Refused(f"collecting the tests failed (pytest exit status {returncode}); its output ends:", tail)
    if len(messages) != len(expected) + 1 or messages[-1].get("collected_total") != len(expected):
        raise Refused("the collection stream does not add up: a test was reported twice (tampering)")
    return expected


def grade(assignment: int, impl: str, time_limit: float, sandbox) -> tuple[list, str]:
    """Grade one assignment (its integrity already checked): the records, in collection
    order, and a note for Gradescope's output."""
    from autograder.results import GradedTest

    folder = f"assignment_{assignment:02d}"
    paths = [f"autograder/{folder}"]
    if (REPO / "autograder/hidden" / folder).is_dir():
        paths.append(f"autograder/hidden/{folder}")
    snapshot = hashes(REPO, graded_files(REPO) + hidden_files())
    expected = collect(paths, impl, sandbox)
    check_unchanged(snapshot, "collecting the tests")
    returncode, messages, _ = run_pytest([*paths, f"--impl={impl}"], time_limit, capture=False, sandbox=sandbox)
    check_unchanged(snapshot, "running the tests")
    reported: dict[str, dict] = {}
    for message in messages:
        test = message.get("test")
        if not isinstance(test, dict):
            raise Refused(f"an unexpected line in the grading stream: {str(message)[:200]} (tampering)")
        if test.get("nodeid") in reported:
            raise Refused(f"{test['nodeid']} was reported twice (forged results)")
        if test.get("nodeid") in expected:
            if test.get("status") not in ("passed", "failed", "skipped"):
                raise Refused(f"{test['nodeid']} was reported with status {test.get('status')!r} (forged results)")
            reported[test["nodeid"]] = test
    how = f"killed at the time limit of {time_limit:g} s" if returncode is None else f"pytest exit status {returncode}"
    records = []
    for nodeid, info in expected.items():
        test = reported.get(nodeid, {"status": "failed", "output": f"{NO_RESULT} ({how})"})
        record = GradedTest(nodeid, assignment, info["points"], test["status"], visibility=info["visibility"])
        record.output, record.duration = str(test.get("output", "")), float(test.get("duration", 0.0))
        records.append(record)
    missing = len(expected) - len(reported)
    return records, f"{missing} test(s) got no result: the test process ended early ({how})." if missing else ""


def hidden_files() -> list[str]:
    hidden = REPO / "autograder/hidden"
    return sorted(
        p.relative_to(REPO).as_posix() for p in hidden.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )


def check_unchanged(snapshot: dict[str, str], during: str) -> None:
    problems = differences(snapshot, hashes(REPO, graded_files(REPO) + hidden_files()))
    if problems:
        raise Refused(f"the grader's files changed while {during}: {', '.join(problems)} (tampering)")


def write_results(out: Path, results: dict) -> None:
    """Replace `out` (even a symlink a student planted there) with our own file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", type=int, help="the assignment to grade, e.g. 7")
    parser.add_argument("--impl", choices=["assignments", "solutions"], default="assignments",
                        help="the tree to grade: assignments (the student's, default) or solutions")  # fmt: skip
    parser.add_argument("--hidden", type=Path, help="a folder of assignment_NN/ hidden tests to grade too")
    parser.add_argument("--out", type=Path, help="where to write Gradescope's results.json")
    parser.add_argument("--time-limit", type=float, default=3600, help="seconds for the whole test run")
    parser.add_argument("--sandbox-user", default="course-student",
                        help="as root: the unprivileged user that runs student code (created if missing; one grade "
                             "at a time per user, since every process of it is ended after each run)")  # fmt: skip
    parser.add_argument("--no-sandbox", action="store_true",
                        help="as root: run student code as root too (only for code you trust)")  # fmt: skip
    parser.add_argument("--write-manifest", action="store_true", help=f"regenerate {MANIFEST} and exit")
    parser.add_argument("--check", action="store_true", help="only check the grader's files (step 1) and exit")
    args = parser.parse_args(argv)
    if args.write_manifest:
        write_manifest(REPO)
        print(f"wrote {MANIFEST} ({len(graded_files(REPO))} files)")
        return 0
    if args.check:
        try:
            check_integrity(REPO)
        except Refused as refusal:
            print(f"error: grading refused: {refusal}", file=sys.stderr)
            return 2
        print(f"the grader's files match {MANIFEST}")
        return 0
    valid = sorted(int(p.name.split("_")[1]) for p in (REPO / "autograder").glob("assignment_[0-9]*") if p.is_dir())
    if args.assignment not in valid:
        given = (
            "--assignment N is required" if args.assignment is None else f"no grader for assignment {args.assignment}"
        )
        parser.error(f"{given}; valid: {', '.join(map(str, valid))}")
    if args.out is None:
        parser.error("--out PATH is required (where to write results.json)")
    if args.hidden is not None and not args.hidden.is_dir():
        parser.error(f"--hidden {args.hidden}: no such folder (expected a folder of assignment_NN/ test folders)")

    started = time.time()
    if args.hidden is not None and args.hidden.resolve() != (REPO / "autograder/hidden").resolve():
        shutil.rmtree(REPO / "autograder/hidden", ignore_errors=True)
        shutil.copytree(args.hidden, REPO / "autograder/hidden", ignore=shutil.ignore_patterns("__pycache__"))
    try:
        check_integrity(REPO)
        sys.path.insert(0, str(REPO))  # only now: this process runs autograder/results.py and sandbox.py
        from autograder.results import gradescope_results, points_table
        from autograder.sandbox import Sandbox, SandboxError

        try:
            sandbox = Sandbox.as_user(args.sandbox_user) if os.geteuid() == 0 and not args.no_sandbox else Sandbox()
            sandbox.check_access(sys.executable, REPO)
        except SandboxError as err:
            raise Refused(str(err)) from None
        if not sandbox.active:
            why = "--no-sandbox" if os.geteuid() == 0 else "not root"
            print(f"note: student code runs as this user ({why}); see the README's threat model", file=sys.stderr)
        try:
            records, note = grade(args.assignment, args.impl, args.time_limit, sandbox)
        finally:
            sandbox.cleanup()
    except Refused as refusal:
        message = f"grading refused: {refusal}"
        # Written by hand, not by autograder/results.py, which may be the tampered file.
        output = f"{message}\n{refusal.details}".strip()
        refused = {"score": 0.0, "execution_time": round(time.time() - started, 2), "output": output,
                   "visibility": "visible", "stdout_visibility": "hidden", "tests": []}  # fmt: skip
        write_results(args.out, refused)
        print(f"{refusal.details}\nerror: {message}" if refusal.details else f"error: {message}", file=sys.stderr)
        return 2
    earned, possible = sum(r.score for r in records), sum(r.max_score for r in records)
    summary = f"A{args.assignment}: {earned:g} / {possible:g} points (tools/grade.py, {args.impl}/). {note}".strip()
    write_results(args.out, gradescope_results(records, time.time() - started, output=summary))
    print(f"\n==== official points (tools/grade.py, {args.impl}/) ====\n{points_table(records)}")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
