"""Grading results: one record per test, the points table, and Gradescope's results.json.

Plain records and pure functions over them, shared by the pytest plugin
(`autograder/conftest.py`, for `pytest autograder --gradescope PATH`), the stream the
official grading command reads (`autograder/stream.py`) and that command itself
(`tools/grade.py`), so all of them score a run the same way. A skipped test earns nothing.

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
top-level `score`, `execution_time`, `output`, `visibility`, `stdout_visibility`, and
`tests`, each with `name`, `number`, `score`, `max_score`, `status`, `output`, `visibility`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

OUTPUT_LIMIT = 4000  # characters of failure output kept per test


@dataclass
class GradedTest:
    nodeid: str
    assignment: int  # 0 when the test is outside any assignment_NN folder
    max_score: float
    status: str  # passed | failed | skipped
    output: str = ""  # failure message or skip reason
    visibility: str = "visible"  # hidden for instructors' hidden tests
    duration: float = 0.0

    @property
    def score(self) -> float:
        return self.max_score if self.status == "passed" else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "score": self.score}


def assignment_of(nodeid: str) -> int:
    m = re.search(r"assignment_(\d+)", nodeid)
    return int(m.group(1)) if m else 0


def record_report(records: dict[str, GradedTest], item, call, report) -> GradedTest:
    """Fold one phase (setup, call or teardown) of a pytest test into its record in
    `records` (by node id), creating the record at the first phase. `item`, `call` and
    `report` are pytest's, as `pytest_runtest_makereport` sees them."""
    record = records.get(item.nodeid)
    if record is None:
        hidden = "/hidden/" in item.nodeid
        points = float(item.get_closest_marker("points").args[0])
        record = GradedTest(item.nodeid, assignment_of(item.nodeid), points, "passed",
                            visibility="hidden" if hidden else "visible")  # fmt: skip
        records[item.nodeid] = record
    record.duration += report.duration
    if report.skipped and record.status == "passed":
        record.status = "skipped"
        record.output = f"skipped: {report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr}"
    elif report.failed:
        record.status = "failed"
        headline = call.excinfo.exconly() if call.excinfo else ""
        record.output = f"{headline}\n\n{report.longreprtext}".strip()
    return record


def short_name(nodeid: str) -> str:
    """`autograder/assignment_07/test_schedule.py::test_x[3]` -> `test_schedule.py::test_x[3]`."""
    return nodeid.split("/")[-1]


def totals(records: list[GradedTest]) -> dict[int, tuple[float, float]]:
    """Points earned and possible, per assignment."""
    out: dict[int, tuple[float, float]] = {}
    for r in records:
        earned, possible = out.get(r.assignment, (0.0, 0.0))
        out[r.assignment] = (earned + r.score, possible + r.max_score)
    return out


def points_table(records: list[GradedTest]) -> str:
    """The table printed at the end of a grading run, with every test that earned nothing
    and why (a skip is listed with its reason: it is not a pass)."""
    lines = [f"{'assignment':<12}{'points':>16}{'passed':>10}{'failed':>10}{'skipped':>10}"]
    for number, (earned, possible) in sorted(totals(records).items()):
        rs = [r for r in records if r.assignment == number]
        counts = [sum(r.status == s for r in rs) for s in ("passed", "failed", "skipped")]
        label = f"A{number}" if number else "other"
        lines.append(f"{label:<12}{earned:>9g} / {possible:<4g}{counts[0]:>10}{counts[1]:>10}{counts[2]:>10}")
    earned = sum(r.score for r in records)
    possible = sum(r.max_score for r in records)
    lines.append(f"{'total':<12}{earned:>9g} / {possible:<4g}")
    for r in records:
        if r.status != "passed":
            first = (r.output.strip().splitlines() or [""])[0][:160]
            lines.append(f"  0/{r.max_score:g}  {r.status:<8}{short_name(r.nodeid)}: {first}")
    return "\n".join(lines)


def gradescope_results(records: list[GradedTest], execution_time: float, output: str = "") -> dict:
    tests = []
    counters: dict[int, int] = {}
    for r in records:
        counters[r.assignment] = counters.get(r.assignment, 0) + 1
        tests.append(
            {
                "name": f"A{r.assignment} {short_name(r.nodeid)}" if r.assignment else short_name(r.nodeid),
                "number": f"{r.assignment}.{counters[r.assignment]}",
                "score": r.score,
                "max_score": r.max_score,
                "status": "passed" if r.status == "passed" else "failed",
                "output": r.output[:OUTPUT_LIMIT] if r.status != "passed" else "",
                "visibility": r.visibility,
            }
        )
    return {
        "score": sum(r.score for r in records),
        "execution_time": round(execution_time, 2),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
