"""Stream grading records to the official grading command (`tools/grade.py`).

    AUTOGRADER_STREAM_FD=5 AUTOGRADER_STREAM_TOKEN=... \\
        python -m pytest autograder/assignment_07 -p autograder.stream [--collect-only]

`tools/grade.py` starts pytest in a child process with an inherited pipe and names its
file descriptor and a per-run token in these two variables. This plugin takes both out
of the environment as soon as pytest loads it (before any test or student module is
imported), so subprocesses never see them, and writes one JSON line per event:

- with `--collect-only`: `{"collected": nodeid, "points": n, "visibility": ...}` for every
  graded test, then `{"collected_total": count}`;
- otherwise: `{"test": GradedTest.to_json()}` as each graded test finishes (after its
  teardown), built by the same `record_report` as the points table of `conftest.py`.

Every line carries the token. The parent trusts no score from this stream: points come
from the collection run, a test reported twice refuses the grade, and a test with no line
(the process exited early) earns nothing.
"""

from __future__ import annotations

import json
import os

import pytest

from autograder.results import GradedTest, record_report

FD_VAR, TOKEN_VAR = "AUTOGRADER_STREAM_FD", "AUTOGRADER_STREAM_TOKEN"


class Stream:
    def __init__(self, fd: int, token: str) -> None:
        self.fd, self.token = fd, token
        self.records: dict[str, GradedTest] = {}
        os.set_inheritable(fd, False)  # not into train.py or any other subprocess

    def send(self, message: dict) -> None:
        data = (json.dumps({**message, "token": self.token}) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
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
            record_report(self.records, item, call, report)
        return report

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        record = self.records.pop(nodeid, None)
        if record is not None:
            self.send({"test": record.to_json()})


_fd, _token = os.environ.pop(FD_VAR, None), os.environ.pop(TOKEN_VAR, None)


def pytest_configure(config: pytest.Config) -> None:
    if _fd is not None and _token is not None:
        config.pluginmanager.register(Stream(int(_fd), _token), "autograder-stream")
