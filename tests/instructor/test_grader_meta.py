"""The grader grades: it passes the reference and fails every untouched stub.

A test that cannot fail grades nothing, so CI runs the whole autograder twice: on
`solutions/` every test must pass with full points, and on `assignments/` (the stubs as
generated) no graded test may pass, and each failure must tell the student which file
and function to implement. For Assignment 7 it also checks that the public grader holds no
reference a submission could import, that its snapshot table is the reference's, and that
the hidden tests (solutions/hidden_tests/) earn the reference everything and the stub, a
lookup table of the snapshots and plausible mistakes nothing. Instructor-only: not
shipped in the student copy.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.instructor.grading import copy_repo
from tools.release import solution_lines

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


# ---------------------------------------------------------------- Assignment 7: no reference in the public grader

A7_PUBLIC = REPO / "autograder/assignment_07/test_schedule.py"
HIDDEN = REPO / "solutions/hidden_tests"
A7_HIDDEN = HIDDEN / "assignment_07/test_schedule_hidden.py"
A7_SOLUTION = REPO / "solutions/assignment_07/schedule.py"
# Full marks on the public tests that compare with the snapshot table, garbage elsewhere.
LOOKUP_TABLE = '''"""A7 answered from the public grader's snapshot table, not from the formula."""

import dataclasses
import json
from pathlib import Path

from torch.optim.lr_scheduler import LambdaLR

ROOT = Path(__file__).resolve().parents[2]  # the course: read the table, import nothing of the grader's
TABLE = {}
for cases in json.loads((ROOT / "autograder/assignment_07/snapshots.json").read_text()).values():
    for c in cases if isinstance(cases, list) else []:
        for step, lr in zip(c["steps"], c["lrs"]):
            TABLE[json.dumps([c["schedule"], c["base_lr"], c["steps_per_epoch"], c["epochs"], step])] = lr


def lr_at(step, cfg, base_lr, steps_per_epoch, epochs):
    key = json.dumps([dataclasses.asdict(cfg), base_lr, steps_per_epoch, epochs, step])
    return TABLE.get(key, base_lr / 2)


class WarmupDecay:
    def __init__(self, cfg, base_lr, steps_per_epoch, epochs):
        self.schedule, self.base_lr, self.spe, self.epochs = dataclasses.asdict(cfg), base_lr, steps_per_epoch, epochs

    def __call__(self, step):
        from starter.config import ScheduleConfig

        return lr_at(step, ScheduleConfig(**self.schedule), self.base_lr, self.spe, self.epochs) / self.base_lr


def build_scheduler(optimizer, cfg, base_lr, steps_per_epoch, epochs):
    return LambdaLR(optimizer, lr_lambda=WarmupDecay(cfg, base_lr, steps_per_epoch, epochs))
'''
# Plausible mistakes the README now rules out: (old text in the reference, new text).
MISTAKES = {
    "rounds_halves_up": (
        "round(cfg.warmup_epochs * steps_per_epoch)",
        "int(cfg.warmup_epochs * steps_per_epoch + 0.5)",
    ),
    "divides_by_t_minus_w": ("max(1, total - warmup_steps)", "(total - warmup_steps)"),
}
SEEDS = range(5)


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def earns(test, schedule, seed: int) -> bool:
    """Whether one graded test function passes, called directly (its fixtures by hand)."""
    fixtures = {"schedule": schedule, "rng": random.Random(seed), "grader_seed": seed}
    try:
        test(**{name: fixtures[name] for name in inspect.signature(test).parameters})
        return True
    except (Exception, pytest.fail.Exception):  # an assertion, pytest.fail, or the stub's NotImplementedError
        return False


@pytest.fixture(scope="module")
def a7(tmp_path_factory) -> dict:
    """A7's public and hidden test modules and the implementations to grade with them."""
    tmp = tmp_path_factory.mktemp("a7")
    here = "ROOT = Path(__file__).resolve().parents[2]"
    (tmp / "lookup_table.py").write_text(LOOKUP_TABLE.replace(here, f"ROOT = Path({str(REPO)!r})"))
    impls = {
        "reference": load_module(A7_SOLUTION, "a7_reference"),
        "stub": load_module(REPO / "assignments/assignment_07/schedule.py", "a7_stub"),
        "lookup_table": load_module(tmp / "lookup_table.py", "a7_lookup_table"),
    }
    for name, (old, new) in MISTAKES.items():
        source = A7_SOLUTION.read_text()
        assert old in source, f"the reference changed: update MISTAKES[{name!r}]"
        (tmp / f"{name}.py").write_text(source.replace(old, new))
        impls[name] = load_module(tmp / f"{name}.py", f"a7_{name}")
    return {"public": load_module(A7_PUBLIC, "a7_public"), "hidden": load_module(A7_HIDDEN, "a7_hidden"), **impls}


def hidden_tests(a7) -> list:
    return [getattr(a7["hidden"], name) for name in dir(a7["hidden"]) if name.startswith("test_")]


def test_a7_public_grader_holds_no_reference_implementation(a7):
    with pytest.raises(ImportError):  # what a submission did to earn full marks from the stub
        exec("from autograder.assignment_07.test_schedule import expected_lr", {})
    reference, rng = a7["reference"].lr_at, random.Random(0)
    cases = []
    for _ in range(20):
        cfg, base_lr, spe, epochs = a7["public"].random_case(rng)
        cases.append((rng.randint(0, spe * epochs), cfg, base_lr, spe, epochs))
    for name, function in vars(a7["public"]).items():  # nothing in it computes lr_at for new inputs
        if not inspect.isfunction(function) or function.__module__ != a7["public"].__name__:
            continue
        try:
            right = [function(*case) == reference(*case) for case in cases]
        except Exception:
            continue
        assert not all(right), f"{A7_PUBLIC.name}: {name}() computes the reference schedule; students get this file"


def test_a7_snapshots_are_the_references_values(capsys):
    make_snapshots = load_module(HIDDEN / "make_snapshots.py", "a7_make_snapshots")
    assert make_snapshots.main(["--check"]) == 0, capsys.readouterr().err


def test_a7_hidden_tests_hold_no_line_of_the_solution():
    # tools/release.py's leak check takes lines of solutions/**.py outside the solution
    # blocks as given; a block line repeated in a hidden test would slip through it.
    lines = solution_lines(REPO / "solutions")
    for path in HIDDEN.rglob("*.py"):
        text = path.read_text()
        assert not [line for line in lines if line in text], f"{path.relative_to(REPO)} repeats a solution line"


def test_a7_hidden_tests_earn_the_reference_everything_and_the_stub_nothing(a7):
    tests = hidden_tests(a7)
    assert tests and all(t.pytestmark[0].name == "points" for t in tests), "graded tests carry points"
    for seed in SEEDS:
        assert [t.__name__ for t in tests if not earns(t, a7["reference"], seed)] == [], f"seed {seed}"
        for test in tests:
            with pytest.raises(NotImplementedError, match="implement .* in assignments/assignment_07/"):
                test(schedule=a7["stub"], rng=random.Random(seed), grader_seed=seed)


def test_a7_a_lookup_table_of_the_snapshots_loses_every_hidden_point(a7):
    # It earns the public tests that compare with the snapshot table (and the training
    # run's, which needs a subprocess), and nothing of the hidden tests, on every seed.
    public = [a7["public"].test_lr_at_matches_the_formula_at_random_steps,
              a7["public"].test_scheduler_changes_the_lr_every_iteration_inside_an_epoch]  # fmt: skip
    for seed in SEEDS:
        assert all(earns(t, a7["lookup_table"], seed) for t in public), "the table answers the snapshot tests"
        assert not [t.__name__ for t in hidden_tests(a7) if earns(t, a7["lookup_table"], seed)], f"seed {seed}"


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a7_mistakes_the_readme_rules_out_lose_the_formula_points_on_every_seed(a7, mistake):
    public = a7["public"].test_lr_at_matches_the_formula_at_random_steps
    hidden = a7["hidden"].test_lr_at_matches_the_formula_at_fresh_random_inputs
    for seed in SEEDS:
        assert not earns(public, a7[mistake], seed), f"the public test passes {mistake} on seed {seed}"
        assert not earns(hidden, a7[mistake], seed), f"the hidden test passes {mistake} on seed {seed}"


def pytest_a7(repo: Path, out: Path, *args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pytest", *args, "--gradescope", out, "-q", "-p", "no:cacheprovider"]
    return subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def scores(proc: subprocess.Popen, out: Path) -> dict[str, dict]:
    output, _ = proc.communicate(timeout=600)
    assert out.is_file(), output[-3000:]
    return {t["name"].split("::")[-1]: t for t in json.loads(out.read_text())["tests"]}


def test_a7_hidden_tests_as_grading_runs_them_earn_the_reference_everything_and_the_stub_nothing(tmp_path):
    """Copied into autograder/hidden/ of a copy of the repository, as `tools/grade.py
    --hidden solutions/hidden_tests` does, and run by pytest with the grader's fixtures
    (the lookup table and the mistakes are graded above, calling the tests directly)."""
    repo = tmp_path / "repo"
    copy_repo(repo)
    shutil.copytree(HIDDEN, repo / "autograder/hidden", ignore=shutil.ignore_patterns("__pycache__"))
    runs = {impl: pytest_a7(repo, tmp_path / f"{impl}.json", "autograder/hidden/assignment_07", "--impl", impl)
            for impl in ("solutions", "assignments")}  # fmt: skip
    reference, stub = (scores(proc, tmp_path / f"{impl}.json") for impl, proc in runs.items())
    names = {"test_lr_at_matches_the_formula_at_fresh_random_inputs",
             "test_scheduler_follows_the_formula_through_all_of_training"}  # fmt: skip
    assert set(reference) == set(stub) == names and all(t["visibility"] == "hidden" for t in reference.values())
    assert all(t["score"] == t["max_score"] > 0 for t in reference.values()), reference
    assert sum(t["max_score"] for t in reference.values()) == 6
    assert all(t["score"] == 0 and "assignments/assignment_07/" in t["output"] and "implement" in t["output"]
               for t in stub.values()), stub  # fmt: skip
