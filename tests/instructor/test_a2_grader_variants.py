"""Assignment 2's grader is right both ways: wrong solutions a student would plausibly
write lose the points of what they break, on every seed tried, with a message that says
what broke; correct-but-different ones earn everything.

Each variant is the reference solution with a small patch, written as the student's
`assignments/assignment_02/` in a copy of the repository (its git files, as they are in
the working tree); the grader then runs there with `--impl assignments` on chosen tests
(`-k`) and seeds (`--grader-seed`), and its Gradescope results say which tests failed.
Unit-level tests run on three seeds. The real-run tests run on one: what they check does
not depend on the seed by construction (the run kills itself at an exact step, chosen
so that some steps after the last mid-epoch save must be replayed whichever way the
saves are counted; dropout makes a resume without the RNG diverge; the steps.jsonl and
epoch-file checks are exact). Every (variant, seed) grading is independent, so they run
at once, one per CPU core; each test then checks one variant.

Instructor-only: not shipped in the student copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOLUTION = REPO / "solutions" / "assignment_02"
SEEDS = (1, 2, 3)
ONE_SEED = (1,)

# Test selections (-k). FILE: the tests of checkpoint.py, crashes included; MANAGER: the
# manager's unit tests; the real runs by name.
FILE = "round_trip or rng_states or fails_midway or killed_while_saving or never_executes or truncated or wrapped"
MANAGER = "restores_the_random or keeps_the_best or counts_epochs"
KILLED = "killed_mid_epoch"
LAST_BEST = "last_and_best"
REAL_RUNS = f"{KILLED} or {LAST_BEST} or real_run or evaluate_reproduces"

DISK_FULL = "test_a_save_that_fails_midway_leaves_the_previous_checkpoint_and_no_partial_file"
KILLED_SAVING = "test_a_process_killed_while_saving_never_leaves_a_corrupt_checkpoint"
RNG_RESUME = "test_a_resume_restores_the_random_generators"
ES_RESUME = "test_a_resume_keeps_the_best_checkpoint_and_the_early_stopping_count"
MID_EPOCH = "test_a_run_killed_mid_epoch_and_resumed[has_a_mid_epoch_checkpoint]"
IDENTICAL = "test_a_run_killed_mid_epoch_and_resumed[ends_with_identical_weights_and_metrics]"
LOGS = "test_a_run_killed_mid_epoch_and_resumed[logs_every_step_and_epoch_exactly_once]"
LAST_AND_BEST = "test_last_and_best_are_in_the_run_folder_and_best_is_the_right_epoch"

# The reference's temporary file, its write, and the pieces of its manager that variants change.
TMP_NAME = 'tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")'
ATOMIC_WRITE = """\
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
"""


@dataclass
class Variant:
    name: str
    patches: dict[str, list[tuple[str, str]]]  # file in solutions/assignment_02 -> [(old, new)], each old once
    runs: list[tuple[str, tuple[int, ...]]]  # (-k selection, seeds)
    fails: dict[str, str] = field(default_factory=dict)  # test -> text its failure message must contain


VARIANTS = [
    # ---- wrong
    Variant(
        "non_atomic_save",  # (a) serialise into memory, then overwrite last.pt in place
        {
            "checkpoint.py": [
                (
                    ATOMIC_WRITE,
                    "    import io\n\n    buffer = io.BytesIO()\n    torch.save(state, buffer)\n"
                    "    path.write_bytes(buffer.getvalue())\n",
                )
            ]
        },
        [(FILE, SEEDS)],
        {
            DISK_FULL: "the previous checkpoint was destroyed by a save that failed midway",
            KILLED_SAVING: "the previous checkpoint was destroyed by a crash during save",
        },
    ),
    Variant(
        "failed_save_leaves_its_temporary_file",
        {"checkpoint.py": [("        tmp.unlink(missing_ok=True)\n", "")]},
        [("fails_midway or killed_while_saving", SEEDS)],  # after a kill, a leftover temporary file is fine
        {DISK_FULL: "a failed save must remove what it wrote"},
    ),
    Variant(
        "ignores_every_steps",  # (b) saves at epoch ends only
        {"manager.py": [("        every = self.cfg.every_steps\n", "        every = 0\n")]},
        [(KILLED, ONE_SEED)],  # no unit test calls on_step_end
        {MID_EPOCH: "last.pt held step 16. Save last.pt every checkpoint.every_steps steps"},
    ),
    Variant(
        "never_restores_the_rng",  # (c)
        {"manager.py": [('        restore_rng(ckpt["rng"])\n', "")]},
        [(f"{MANAGER} or {KILLED}", ONE_SEED), (MANAGER, SEEDS[1:])],
        {RNG_RESUME: "restore the RNG states saved in the checkpoint", IDENTICAL: "then resumed: the weights"},
    ),
    Variant(
        "never_restores_early_stopping",  # (d) best value, best epoch, epochs without improvement
        {"manager.py": [('        self.stopper.load_state_dict(ckpt["manager"])\n', "")]},
        [(MANAGER, SEEDS)],
        {ES_RESUME: "best.pt was replaced by epoch"},
    ),
    Variant(
        "trims_steps_one_record_short",  # (e)
        {
            "manager.py": [
                (
                    '"steps.jsonl": lambda r: r["step"] <= loop.global_step',
                    '"steps.jsonl": lambda r: r["step"] < loop.global_step',
                )
            ]
        },
        [(KILLED, ONE_SEED)],
        {LOGS: "steps.jsonl should hold steps 1..48 once each, in order; missing ["},
    ),
    Variant(
        "numbers_epoch_files_from_0",  # (h) against the rule the README states: epoch_NNN.pt, NNN = record["epoch"]
        {"manager.py": [("f\"epoch_{record['epoch']:03d}.pt\"", "f\"epoch_{record['epoch'] - 1:03d}.pt\"")]},
        [(LAST_BEST, ONE_SEED)],
        {LAST_AND_BEST: "named by the 1-based epoch number"},
    ),
    # ---- right
    Variant(
        "temporary_file_named_last.pt.tmp-PID.pt",  # (f)
        {"checkpoint.py": [(TMP_NAME, 'tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}.pt")')]},
        [(f"{FILE} or {MANAGER} or {REAL_RUNS}", ONE_SEED), (f"{FILE} or {MANAGER}", SEEDS[1:])],
    ),
    Variant(
        "temporary_file_named_tmp_last.pt",  # (f)
        {"checkpoint.py": [(TMP_NAME, 'tmp = path.with_name(f"tmp_{path.name}")')]},
        [(f"{FILE} or {MANAGER} or {LAST_BEST}", ONE_SEED), (f"{FILE} or {MANAGER}", SEEDS[1:])],
    ),
    Variant(
        "torch.serialization.save_to_a_path",  # (g) another function, and PyTorch's own file writer
        {
            "checkpoint.py": [
                (
                    '        with open(tmp, "wb") as f:\n            torch.save(state, f)\n',
                    '        torch.serialization.save(state, tmp)\n        with open(tmp, "rb+") as f:\n',
                )
            ]
        },
        [(f"{FILE} or {MANAGER} or {LAST_BEST}", ONE_SEED), (f"{FILE} or {MANAGER}", SEEDS[1:])],
    ),
    Variant(
        "every_steps_counted_inside_the_epoch",  # saves after steps every, 2*every, ... of each epoch
        {"manager.py": [("state.global_step % every == 0", "state.batch_in_epoch % every == 0")]},
        [(KILLED, ONE_SEED)],
    ),
]


def copy_repo(dest: Path) -> Path:
    """The repository's files (tracked, or new and not ignored) copied into `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def write_variant(repo: Path, variant: Variant) -> None:
    """The reference solution, patched, as the student's assignments/assignment_02/*.py."""
    for name in ("checkpoint.py", "manager.py"):
        source = (SOLUTION / name).read_text()
        for old, new in variant.patches.get(name, []):
            assert source.count(old) == 1, f"{variant.name}: the reference's {name} no longer holds {old!r} once"
            source = source.replace(old, new)
        (repo / "assignments" / "assignment_02" / name).write_text(source)


def grade(repo: Path, selection: str, seed: int, out: Path) -> dict[str, dict]:
    """Run the A2 grader in `repo` on the tests `selection` picks; its results by test name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_"))}
    env["OMP_NUM_THREADS"] = "1"  # as the grader's own training runs; many gradings share the cores
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "autograder/assignment_02",
        "-k",
        selection,
        "--impl",
        "assignments",
        "--grader-seed",
        str(seed),
        "--gradescope",
        str(out),
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=540)
    assert out.is_file(), f"no results ({selection!r}, seed {seed}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return {t["name"].split("::", 1)[1]: t for t in json.loads(out.read_text())["tests"]}


@pytest.fixture(scope="module")
def gradings(tmp_path_factory) -> dict[str, list[tuple[str, int, dict]]]:
    """Every variant graded on its selections and seeds, all at once: name -> [(selection, seed, results)]."""
    jobs = []
    for variant in VARIANTS:
        repo = copy_repo(tmp_path_factory.mktemp(variant.name.replace(".", "_")))
        write_variant(repo, variant)
        jobs += [(variant.name, repo, selection, seed) for selection, seeds in variant.runs for seed in seeds]
    jobs.sort(key=lambda job: KILLED not in job[2])  # the real runs first: the longest
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = [
            (name, selection, seed, pool.submit(grade, repo, selection, seed, repo / f"results-{i}.json"))
            for i, (name, repo, selection, seed) in enumerate(jobs)
        ]
        results: dict[str, list[tuple[str, int, dict]]] = {}
        for name, selection, seed, future in futures:
            results.setdefault(name, []).append((selection, seed, future.result()))
    return results


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first test waits for all the gradings: ~6 CPU-minutes in all
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_variant_loses_exactly_the_points_of_what_it_breaks(variant: Variant, gradings):
    seeds_run = {name: set() for name in variant.fails}
    for selection, seed, results in gradings[variant.name]:
        where = f"{variant.name}, seed {seed}, -k {selection!r}"
        assert results, f"{where}: no test ran"
        wanted = {name for name in variant.fails if name in results}  # the tests of what it breaks, if selected
        failed = {name for name, t in results.items() if t["score"] < t["max_score"]}
        assert failed == wanted, f"{where}: failed {sorted(failed)}, expected {sorted(wanted)}\n" + "\n".join(
            f"{name}: {results[name]['output'][:600]}" for name in sorted(failed - wanted)
        )
        for name in wanted:
            output = results[name]["output"]
            assert variant.fails[name] in output, f"{where}: {name} fails without saying what broke:\n{output[:1500]}"
            seeds_run[name].add(seed)
    for name, seeds in seeds_run.items():
        assert seeds, f"{variant.name}: {name} never ran"
