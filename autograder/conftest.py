"""Options, fixtures and hooks shared by every assignment's grader.

    pytest autograder/assignment_07                    # grade your code (assignments/)
    pytest autograder --impl solutions                 # grade the reference
    pytest autograder --impl solutions --gradescope results.json

Every test carries `@pytest.mark.points(n)` and a time limit (`@pytest.mark.timeout(s)`,
default 120 s). A test earns its points only when it passes; a skip earns nothing and the
table at the end says why it skipped. Tiers: `@pytest.mark.gpu` / `multi_gpu` tests skip
without enough CUDA GPUs; `data_root(...)` skips when a dataset is absent, naming where
it looked. Tests under `autograder/hidden/` (instructors' hidden tests, never in the
student copy) are graded with hidden visibility.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.results import assignment_of, gradescope_results, points_table, record_report
from starter.runfolder import read_jsonl

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT_S = 120
_RECORDS = pytest.StashKey[dict]()
_STARTED = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder")
    group.addoption(
        "--impl", choices=["assignments", "solutions"], default="assignments",
        help="which tree to grade: assignments (the student's, default) or solutions (the reference)",
    )  # fmt: skip
    group.addoption("--gradescope", metavar="PATH", help="write Gradescope's results.json here")
    group.addoption("--grader-seed", type=int, help="seed for randomized inputs (default: from the submission)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RECORDS] = {}
    config.stash[_STARTED] = time.time()


def _graded(item: pytest.Item) -> bool:
    return Path(str(item.path)).is_relative_to(REPO / "autograder")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [item.nodeid for item in items if _graded(item) and item.get_closest_marker("points") is None]
    if missing:
        raise pytest.UsageError(f"autograder tests need @pytest.mark.points(n): {', '.join(missing)}")
    gpus = _gpu_count()
    for item in items:
        if not _graded(item):
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT_S))
        needed = 2 if item.get_closest_marker("multi_gpu") else 1 if item.get_closest_marker("gpu") else 0
        if gpus < needed:
            item.add_marker(pytest.mark.skip(reason=f"GPU tier: needs {needed} CUDA GPU(s), found {gpus}"))


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch, or a broken driver: no GPU tier
        return 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if _graded(item):
        record_report(item.config.stash[_RECORDS], item, call, report)
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    records = list(config.stash[_RECORDS].values())
    if not records:
        return
    terminalreporter.section(f"points ({config.getoption('impl')}/)")
    terminalreporter.write_line(points_table(records))
    path = config.getoption("gradescope")
    if path:
        results = gradescope_results(records, time.time() - config.stash[_STARTED])
        Path(path).write_text(json.dumps(results, indent=2) + "\n")
        terminalreporter.write_line(f"Gradescope results written to {path}")


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> str:
    """`assignments` or `solutions`: the tree under test."""
    return request.config.getoption("impl")


@pytest.fixture
def impl_module(impl: str):
    """Import a module of the tree under test: impl_module("assignment_07.schedule")."""

    def load(name: str):
        path = f"{impl}/{name.replace('.', '/')}.py"
        try:
            return importlib.import_module(f"{impl}.{name}")
        except ModuleNotFoundError as err:
            if err.name and f"{impl}.{name}".startswith(err.name):
                pytest.fail(f"{path} does not exist: create it from the assignment's README", pytrace=False)
            raise

    return load


@pytest.fixture
def grader_seed(request: pytest.FixtureRequest, impl: str) -> int:
    """Per-submission seed: from --grader-seed, else a hash of the submitted files of this
    test's assignment, so answers hard-coded for one set of inputs fail on another."""
    seed = request.config.getoption("grader_seed")
    if seed is None:
        digest = hashlib.sha256(request.node.nodeid.split("[")[0].encode())
        folder = REPO / impl / f"assignment_{assignment_of(request.node.nodeid):02d}"
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
            digest.update(path.read_bytes())
        seed = int.from_bytes(digest.digest()[:4], "little")
    return seed


@pytest.fixture
def rng(grader_seed: int) -> random.Random:
    return random.Random(grader_seed)


@pytest.fixture
def data_root():
    """The folder that holds `name` (e.g. "cifar-10-batches-py"), or skip naming where we looked."""

    def find(name: str) -> Path:
        roots = [Path(os.environ["DATA_ROOT"])] if os.environ.get("DATA_ROOT") else []
        roots += [REPO / "data", REPO.parent / "shared" / "data"]
        for root in roots:
            if (root / name).exists():
                return root
        pytest.skip(f"dataset {name} not found; looked in {', '.join(str(r / name) for r in roots)}")

    return find


@dataclass
class TrainRun:
    """A finished `starter/train.py` subprocess and its run folder."""

    returncode: int
    stdout: str
    stderr: str
    runs: Path

    def check(self) -> TrainRun:
        """Fail with the trainer's own last words (e.g. "A7: implement ... in ...")."""
        if self.returncode != 0:
            lines = self.stderr.strip().splitlines() or ["(no output)"]
            tail = "\n".join(lines[-5:])
            pytest.fail(f"starter/train.py exited with {self.returncode}: {lines[-1]}\n{tail}", pytrace=False)
        return self

    @property
    def run_dir(self) -> Path:
        dirs = sorted(p for p in self.runs.iterdir() if p.is_dir())
        assert len(dirs) == 1, f"expected one run folder in {self.runs}, found {dirs}"
        return dirs[0]

    def jsonl(self, name: str) -> list[dict]:
        return read_jsonl(self.run_dir / name)


@pytest.fixture
def train_run(impl: str, tmp_path: Path):
    """Run `python starter/train.py` on the tree under test: train_run("train.epochs=1", ...)."""

    def run(*overrides: str, timeout: float = 300) -> TrainRun:
        runs = tmp_path / f"runs{len(list(tmp_path.glob('runs*')))}"
        runs.mkdir()
        cmd = [sys.executable, str(REPO / "starter" / "train.py"), "--configs", str(REPO / "assets" / "configs.yml"),
               "--override_args", f"course.impl={impl}", f"run.dir={runs}", *overrides]  # fmt: skip
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        return TrainRun(done.returncode, done.stdout, done.stderr, runs)

    return run
