"""The grader grades: it passes the reference and fails every untouched stub.

A test that cannot fail grades nothing, so CI runs the whole autograder twice: on
`solutions/` every test must pass with full points, and on `assignments/` (the stubs as
generated) no graded test may pass, and each failure must tell the student which file
and function to implement. Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def grade(impl: str, out: Path) -> dict:
    cmd = [sys.executable, "-m", "pytest", "autograder", "--impl", impl, "--gradescope", str(out),
           "-q", "-p", "no:cacheprovider"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert out.is_file(), f"no results written:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = json.loads(out.read_text())
    results["returncode"] = done.returncode
    return results


@pytest.fixture(scope="module")
def stub_results(tmp_path_factory) -> dict:
    return grade("assignments", tmp_path_factory.mktemp("stubs") / "results.json")


def test_stubs_are_generated_from_the_solutions():
    done = subprocess.run([sys.executable, "tools/make_stubs.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_reference_solutions_earn_every_point(tmp_path):
    results = grade("solutions", tmp_path / "results.json")
    # Tests of a tier this machine lacks (the GPU tier here) skip, and a skip earns nothing.
    ran = [t for t in results["tests"] if not t["output"].startswith("skipped:")]
    failed = [t["name"] + ": " + t["output"][:300] for t in ran if t["score"] != t["max_score"]]
    assert not failed, "\n".join(failed)
    assert results["returncode"] == 0 and results["score"] == sum(t["max_score"] for t in ran) > 0


def test_untouched_stubs_earn_no_points(stub_results):
    passed = [t["name"] for t in stub_results["tests"] if t["score"] > 0]
    assert not passed, f"these graded tests pass on an untouched stub, so they grade nothing: {passed}"
    assert stub_results["score"] == 0 and stub_results["returncode"] != 0
    assert stub_results["tests"], "the autograder collected no tests"


def test_every_stub_failure_names_the_file_and_function_to_implement(stub_results):
    for t in stub_results["tests"]:
        if t["output"].startswith("skipped:"):  # e.g. the GPU tier on a machine without one
            continue
        number = int(t["name"].split()[0][1:])
        assert f"assignments/assignment_{number:02d}/" in t["output"] and "implement" in t["output"], (
            f"{t['name']} fails on the stub without saying what to implement:\n{t['output'][:500]}"
        )
