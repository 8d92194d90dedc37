"""Red team: submissions that try to forge their grade, run through the official grading
command (tools/grade.py) on Assignment 7, each with the score it must get (0, or refused).

Each attack starts from the untouched A7 stub, whose honest score is 0, and adds one trick
that earned full marks, or could have, from an earlier grader (README: threat model). The
gradings run at once in one fixture, each in its own copy of the repository and, as root,
under a sandbox user of its own. Attacks that only the sandbox stops (the student's code
cannot write the results or signal the grader when it runs as another user) skip where
there is no root or no Python an unprivileged user can run, saying so.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from tests.instructor.grading import A7, REPO, copy_repo, readable_folder, run_scenarios, sandbox_unavailable, submit

STUB = (REPO / "assignments/assignment_07/schedule.py").read_text()
FIRST_TEST = f"{A7}::test_lr_at_matches_the_formula_at_random_steps"
SANDBOX = pytest.mark.skipif(bool(sandbox_unavailable()), reason=f"no sandbox here: {sandbox_unavailable()}")


def attack(tmp: Path, code: str) -> tuple[Path, list]:
    """The stub with `code` run when it is imported."""
    repo = copy_repo(tmp / "repo")
    submit(repo, STUB + "\n\n# ---- the attack\n" + code)
    return repo, []


def imports_the_graders_reference(tmp):
    return attack(tmp, "from autograder.assignment_07.test_schedule import expected_lr as lr_at  # noqa\n")


def loads_the_hidden_reference_by_path(tmp):
    """The hidden tests hold the reference; importlib can load a file by path, which no
    import statement shows."""
    repo, _ = attack(
        tmp,
        """
import importlib.util
from pathlib import Path
hidden = Path(__file__).resolve().parents[2] / "autograder/hidden/assignment_07/test_schedule_hidden.py"
spec = importlib.util.spec_from_file_location("notes", hidden)
notes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notes)
lr_at = notes.reference_lr
""",
    )
    return repo, ["--hidden", repo / "solutions/hidden_tests"]


def patches_pytest_reports(tmp):
    """Every report says passed: pytest's own report class, patched at import. Imported with
    importlib, so the first-import audit event and the import-statement check see nothing."""
    return attack(
        tmp,
        """
import importlib
reports = importlib.import_module("_pytest.reports")
def passed(cls, item, call):
    return cls(item.nodeid, item.location, {}, "passed", None, call.when, duration=call.duration)
reports.TestReport.from_item_and_call = classmethod(passed)
""",
    )


def replaces_the_stream_recorder(tmp):
    """The grader's record builder, replaced through sys.modules (no import statement)."""
    return attack(
        tmp,
        """
import sys
stream = sys.modules["autograder.stream"]
real = stream.record_report
def passed(records, item, call, report):
    record = real(records, item, call, report)
    record.status, record.output = "passed", ""
    return record
stream.record_report = passed
""",
    )


def reads_the_token_from_the_plugin(tmp):
    """The attack that beat the first grader: the token and pipe from the plugin's module."""
    return attack(
        tmp,
        f"""
import json, os
import autograder.stream as s
line = {{"test": {{"nodeid": {FIRST_TEST!r}, "status": "passed"}}, "token": s._token}}
os.write(int(s._fd), (json.dumps(line) + "\\n").encode())
os._exit(0)
""",
    )


def writes_results_json(tmp):
    """At import: forge results.json, and leave a process (in the run's session) that keeps
    forging it."""
    out, fake = tmp / "results.json", tmp / "fake.json"
    fake.write_text(json.dumps({"score": 16.0, "output": "forged", "tests": []}))
    forger = f"exec >/dev/null 2>&1; while :; do cp {fake} {out}; sleep 0.05; done"
    return attack(tmp, f"import shutil, subprocess\ntry:\n    shutil.copy({str(fake)!r}, {str(out)!r})\n"
                       f"except OSError:\n    pass\nsubprocess.Popen(['sh', '-c', {forger!r}])\n")  # fmt: skip


def forges_stream_records(tmp):
    """No token to be had: it writes made-up "passed" records to every open descriptor."""
    return attack(
        tmp,
        f"""
import json, os
line = json.dumps({{"test": {{"nodeid": {FIRST_TEST!r}, "status": "passed"}}, "token": "0" * 32}}) + "\\n"
for fd in range(3, 64):
    try:
        os.write(fd, line.encode())
    except OSError:
        pass
os._exit(0)
""",
    )


def reads_the_token_from_the_environment(tmp):
    return attack(tmp, "open('/proc/self/environ', 'rb').read()\n")


def walks_the_stack_to_pytest(tmp):
    """The plugin (and its token) is reachable from pytest's frames."""
    return attack(tmp, "import inspect\nframes = [f.frame.f_locals for f in inspect.stack()]\n")


def searches_the_heap(tmp):
    return attack(tmp, "import gc\nplugins = [o for o in gc.get_objects() if type(o).__name__ == 'Stream']\n")


def rewrites_a_grader_file(tmp):
    return attack(
        tmp,
        f"""
from pathlib import Path
test = Path({str(tmp / "repo" / A7)!r})
test.write_text(test.read_text().replace("REL = 1e-9", "REL = 1.0"))
""",
    )


def escapes_with_setsid(tmp):
    """A process in a session of its own that keeps rewriting results.json (it would
    outlive a kill of the child's process group), started the way subprocess allows."""
    out, fake = tmp / "results.json", tmp / "fake.json"
    fake.write_text(json.dumps({"score": 16.0, "output": "forged", "tests": []}))
    forger = f"import shutil, time\nwhile True:\n    try: shutil.copy({str(fake)!r}, {str(out)!r})\n" \
             "    except OSError: pass\n    time.sleep(0.05)\n"  # fmt: skip
    return attack(tmp, f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {forger!r}], "
                       "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n")  # fmt: skip


def double_forks_a_daemon(tmp):
    """The classic daemon: fork, setsid, fork; it sleeps to be found alive."""
    return attack(tmp, "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                       "        time.sleep(600)\n    os._exit(0)\n")  # fmt: skip


def forges_results_and_kills_the_grader(tmp):
    """Writes results.json, then SIGKILLs the grading command and its process group."""
    out = tmp / "results.json"
    forged = json.dumps({"score": 16.0, "output": "forged", "tests": []})
    return attack(
        tmp,
        f"""
import os, signal
try:
    open({str(out)!r}, "w").write({forged!r})
except OSError:
    pass
grader = os.getppid()
for kill in (lambda: os.kill(grader, signal.SIGKILL), lambda: os.killpg(os.getpgid(grader), signal.SIGKILL)):
    try:
        kill()
    except OSError:
        pass
""",
    )


def reports_who_runs_it(tmp):
    """Not an attack: every test fails with the user and HOME the student's code ran as."""
    return attack(tmp, "import os\nraise RuntimeError(f'uid={os.getuid()} home={os.environ[\"HOME\"]}')\n")


SCENARIOS = [imports_the_graders_reference, loads_the_hidden_reference_by_path, patches_pytest_reports,
             replaces_the_stream_recorder, reads_the_token_from_the_plugin, writes_results_json,
             forges_stream_records, reads_the_token_from_the_environment, walks_the_stack_to_pytest,
             searches_the_heap, rewrites_a_grader_file, escapes_with_setsid, double_forks_a_daemon,
             forges_results_and_kills_the_grader, reports_who_runs_it]  # fmt: skip


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    folder = readable_folder()
    yield run_scenarios(SCENARIOS, folder)
    shutil.rmtree(folder, ignore_errors=True)


def refused(results: dict, *words: str) -> None:
    """The grade was refused with score 0, naming what was seen."""
    assert results["returncode"] == 2, f"not refused (exit {results['returncode']}): {results['stderr'][-2000:]}"
    assert results["score"] == 0 and results["tests"] == [], results["output"][:2000]
    last = (results["stderr"].strip().splitlines() or [""])[-1]  # the submission may have written to stderr too
    assert last.startswith("error: grading refused: "), results["stderr"][-2000:]
    for word in words:
        assert word in results["output"], f"{word!r} not in: {results['output'][:2000]}"


@pytest.mark.parametrize(
    "name, words",
    [
        ("imports_the_graders_reference", ["tampering detected", "imports autograder.assignment_07.test_schedule"]),
        ("loads_the_hidden_reference_by_path", ["tampering detected", "reads autograder/hidden/assignment_07"]),
        ("patches_pytest_reports", ["tampering detected", "_pytest.reports.TestReport.from_item_and_call"]),
        ("replaces_the_stream_recorder", ["tampering detected", "autograder.stream.record_report"]),
        ("reads_the_token_from_the_plugin", ["tampering detected", "imports autograder.stream"]),
        ("forges_stream_records", ["not written by the grader"]),
        ("reads_the_token_from_the_environment", ["tampering detected", "reads /proc/self/environ"]),
        ("walks_the_stack_to_pytest", ["tampering detected", "calls sys._getframe"]),
        ("searches_the_heap", ["tampering detected", "calls gc.get_objects"]),
        ("rewrites_a_grader_file", ["tampering detected", A7]),
        ("escapes_with_setsid", ["left the grading session"]),
        ("double_forks_a_daemon", ["left the grading session"]),
    ],
)
def test_an_attack_from_inside_the_test_process_refuses_the_grade(runs, name, words):
    refused(runs[name], *words)


def test_a_submission_that_writes_results_json_loses_to_the_grader(runs):
    results = runs["writes_results_json"]
    time.sleep(0.3)  # a forger still alive would rewrite the file within 0.05 s
    assert results["returncode"] == 0, results["stderr"][-3000:]
    on_disk = json.loads((results["tmp"] / "results.json").read_text())
    assert on_disk["output"] != "forged" and on_disk["score"] == results["score"] == 0
    assert len(on_disk["tests"]) == 8 and "tools/grade.py" in on_disk["output"]


@SANDBOX
def test_a_process_that_escapes_cannot_rewrite_the_results(runs):
    results = runs["escapes_with_setsid"]
    time.sleep(0.3)  # a forger still alive would rewrite the file within 0.05 s
    on_disk = json.loads((results["tmp"] / "results.json").read_text())
    assert on_disk["score"] == 0 and on_disk["output"] != "forged" and "refused" in on_disk["output"]


@SANDBOX
def test_student_code_cannot_kill_the_grader_or_write_its_results(runs):
    results = runs["forges_results_and_kills_the_grader"]
    assert results["returncode"] == 0, "the grading command survived and completed"
    assert results["score"] == 0 and len(results["tests"]) == 8 and "tools/grade.py" in results["output"]


@SANDBOX
def test_student_code_runs_as_the_unprivileged_sandbox_user(runs):
    results = runs["reports_who_runs_it"]
    assert results["returncode"] == 0 and results["score"] == 0, results["stderr"][-2000:]
    outputs = {t["output"].split("RuntimeError: ")[-1].splitlines()[0] for t in results["tests"]}
    assert len(outputs) == 1, outputs
    uid_text, home_text = outputs.pop().split()
    uid = int(uid_text.removeprefix("uid="))
    assert uid not in (0, os.geteuid()), f"student code ran as uid {uid}"
    assert home_text.removeprefix("home=").startswith(tempfile.gettempdir()), "a scratch HOME of its own"
    scratch = [p for p in Path(tempfile.gettempdir()).glob("grade-*") if p.stat().st_uid == uid]
    assert not scratch, f"the sandbox's scratch folders were left behind: {scratch}"


def test_no_process_of_any_attack_is_left_running(runs):
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if b"AUTOGRADER_RUN=" in environ:
            left.append(pid)
            os.kill(int(pid), signal.SIGKILL)
    assert not left, f"processes of a grading still running: {left}"
