"""Stream grading records to the official grading command (`tools/grade.py`).

    AUTOGRADER_STREAM_FD=5 AUTOGRADER_TOKEN_FD=6 \\
        python -m pytest autograder/assignment_07 -p autograder.stream [--collect-only]

`tools/grade.py` starts pytest in a child process with two inherited pipes: one this plugin
writes records to, and one it reads a per-run secret token from (once, then closes it; the
token is never in the environment, where `/proc/self/environ` would show it, nor in a module
variable). As pytest configures itself, before any test or student module is imported, the
plugin takes both variables out of the environment, installs the tamper guard
(autograder/guard.py), and writes one JSON line per event:

- with `--collect-only`: `{"collected": nodeid, "points": n, "visibility": ...}` for every
  graded test, then `{"collected_total": count}`;
- otherwise: `{"test": GradedTest.to_json()}` as each graded test finishes (after its
  teardown, and after the guard's checks), built by the same `record_report` as the points
  table of `conftest.py`;
- `{"tamper": "what was seen"}` whenever the guard sees tampering: the grade is refused.

Every line carries the token. The parent trusts no score from this stream: points come
from the collection run, a test reported twice refuses the grade, and a test with no line
(the process exited early) earns nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from autograder.guard import Guard
from autograder.results import GradedTest, record_report

FD_VAR, TOKEN_FD_VAR = "AUTOGRADER_STREAM_FD", "AUTOGRADER_TOKEN_FD"
REPO = Path(__file__).resolve().parents[1]


def sender(fd: int, token: str) -> Callable[[dict], None]:
    """A function that writes one message; the token lives only in its closure."""
    os.set_inheritable(fd, False)  # not into train.py or any other subprocess

    def send(message: dict) -> None:
        data = (json.dumps({**message, "token": token}) + "\n").encode()
        while data:
            data = data[os.write(fd, data) :]

    return send


class Stream:
    def __init__(self, send: Callable[[dict], None], repo: Path, student: Path) -> None:
        self.send = send
        self.records: dict[str, GradedTest] = {}
        self.record_report = record_report  # bound now: replacing the module's name changes nothing
        self.guard = Guard(repo, student, lambda problem: send({"tamper": problem}))
        self.guard.install()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.guard.take_snapshot()  # the test modules are loaded now; student code is not yet
        if not session.config.option.collectonly:
            return
        graded = [item for item in session.items if item.get_closest_marker("points") is not None]
        for item in graded:
            visibility = "hidden" if "/hidden/" in item.nodeid else "visible"
            points = float(item.get_closest_marker("points").args[0])
            self.send({"collected": item.nodeid, "points": points, "visibility": visibility})
        self.send({"collected_total": len(graded)})

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if item.get_closest_marker("points") is not None:
            self.record_report(self.records, item, call, report)
        return report

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        self.guard.check()  # reports what it finds before this test's result leaves
        record = self.records.pop(nodeid, None)
        if record is not None:
            self.send({"test": record.to_json()})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.guard.check()


def read_token(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 1024):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def pytest_configure(config: pytest.Config) -> None:
    fd, token_fd = os.environ.pop(FD_VAR, None), os.environ.pop(TOKEN_FD_VAR, None)
    if fd is None or token_fd is None:
        return
    student = REPO / config.getoption("impl", "assignments")
    stream = Stream(sender(int(fd), read_token(int(token_fd))), REPO, student)
    config.pluginmanager.register(stream, "autograder-stream")
