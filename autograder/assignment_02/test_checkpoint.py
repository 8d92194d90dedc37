"""Assignment 2 grader, part 1: the checkpoint file. It survives crashes, round-trips every
part of the state, restores RNGs exactly, never runs code when loaded, gives clear errors,
and loads weights saved from wrapped models.

Crashes are made by the file system, not by patching a function: a child process saves
under a file-size limit (RLIMIT_FSIZE) that the new checkpoint exceeds, so the write fails
midway (a full disk) or the kernel kills the process midway (SIGXFSZ), whatever function
wrote and whatever the temporary file is called. A really malicious pickle. Inputs come
from a per-submission seed (fixture `rng`). The manager: test_manager.py.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autograder.assignment_02.checks import (
    REPO,
    assert_same,
    child_env,
    draw_random_numbers,
    manager,
    seed_all,
    trained_engine,
)
from starter.errors import CourseError
from starter.loop import LoopState
from starter.models import CNNSimple


@pytest.fixture
def ck(impl_module):
    return impl_module("assignment_02.checkpoint")


@pytest.fixture
def mgr(impl_module):
    return impl_module("assignment_02.manager")


# ---------------------------------------------------------------- the file


@pytest.mark.points(3)
def test_save_and_load_round_trip_every_part_of_the_state(ck, mgr, rng, tmp_path):
    engine = trained_engine(rng.randrange(10**6), steps=rng.randint(1, 4))
    loop = LoopState(epoch=rng.randint(1, 9), global_step=rng.randint(10, 999), batch_in_epoch=rng.randint(0, 9),
                     history=[{"epoch": 1, "val_acc": rng.random()}])  # fmt: skip
    state = manager(mgr, tmp_path, "checkpoint.enabled=true").state(engine, loop)
    assert {"engine", "loop", "rng", "config"} <= set(state), "see the checkpoint layout in the README"
    assert {"model", "optimizer", "scheduler", "precision"} <= set(state["engine"])
    state["scaler"] = torch.amp.GradScaler("cpu", init_scale=2.0 ** rng.randint(4, 16)).state_dict()
    path = tmp_path / "checkpoints" / "x.pt"
    ck.save_checkpoint(path, state)
    loaded = ck.load_checkpoint(path)
    assert_same(state, loaded)
    assert loaded["loop"]["global_step"] == loop.global_step and loaded["config"]["checkpoint"]["enabled"] is True


@pytest.mark.points(2)
def test_rng_states_restore_exactly(ck, rng, tmp_path):
    seed_all(rng)
    np.random.normal()  # leaves a cached Gaussian in NumPy's state
    captured = ck.capture_rng()
    path = tmp_path / "rng.pt"
    torch.save(captured, path)
    first = draw_random_numbers()
    ck.restore_rng(torch.load(path, weights_only=True))  # RNG states must be weights_only-safe
    assert draw_random_numbers() == first, "the next random numbers must repeat"


# A child process that saves a new checkpoint over `path` under a file-size limit smaller
# than that checkpoint. on_limit=fail: SIGXFSZ ignored, so the write that crosses the
# limit fails with EFBIG, the way a full disk fails it. on_limit=kill: SIGXFSZ at its
# default (Python ignores it at start-up; the child restores it), so the kernel kills the
# process in the middle of that write: a crash at a known byte, not a race.
CRASHING_SAVE = """\
import importlib, resource, signal, sys
import torch

impl, path, limit, size, seed, on_limit = sys.argv[1:7]
save_checkpoint = importlib.import_module(impl + ".assignment_02.checkpoint").save_checkpoint
weights = torch.randn(int(size), generator=torch.Generator().manual_seed(int(seed)))
state = {"format": "dl-course-checkpoint/1", "new": weights}
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file when killed
signal.signal(signal.SIGXFSZ, signal.SIG_IGN if on_limit == "fail" else signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    save_checkpoint(path, state)
except BaseException as err:
    print("raised", type(err).__name__, (str(err).splitlines() or [""])[0][:200], flush=True)
    sys.exit(0)
print("returned", flush=True)
"""


def save_in_a_crashing_child(impl: str, path: Path, rng: random.Random, on_limit: str) -> tuple[int, str, int]:
    """Save a checkpoint of ~1-2 MB over `path` in a child that crashes (`on_limit`) once
    it has written a random number of bytes of some file. Returns (exit status, output, limit)."""
    size, seed = rng.randint(250_000, 500_000), rng.randrange(10**6)
    buffer = io.BytesIO()
    torch.save({"format": "dl-course-checkpoint/1", "new": torch.zeros(size)}, buffer)
    limit = rng.randint(64 * 1024, len(buffer.getvalue()) * 3 // 4)  # inside the new file's tensor data
    done = subprocess.run([sys.executable, "-c", CRASHING_SAVE, impl, str(path), str(limit), str(size), str(seed),
                           on_limit], cwd=path.parent.parent, env={**child_env(), "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.returncode, (done.stdout + done.stderr).strip(), limit


def previous_checkpoint(ck, rng: random.Random, tmp_path: Path) -> tuple[Path, bytes]:
    """A small good checkpoint, saved by the submission: the one a crash must not destroy."""
    path = tmp_path / "checkpoints" / "last.pt"
    ck.save_checkpoint(path, {"format": "dl-course-checkpoint/1", "old": torch.arange(rng.randint(5, 50))})
    assert path.is_file(), f"save_checkpoint({path}, ...) returned but wrote no file there"
    return path, path.read_bytes()


@pytest.mark.points(3)
@pytest.mark.timeout(150)
def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_and_no_partial_file(ck, impl, rng, tmp_path):
    path, before = previous_checkpoint(ck, rng, tmp_path)
    files_before = sorted(os.listdir(path.parent))
    status, output, limit = save_in_a_crashing_child(impl, path, rng, on_limit="fail")
    assert status == 0, f"the saving process failed: {output[-1500:]}"
    assert output.startswith("raised"), (
        f"the disk filled up after {limit} bytes, yet save_checkpoint returned normally ({output[-300:]}): "
        "a failed save must raise"
    )
    assert path.is_file() and path.read_bytes() == before, (
        f"the previous checkpoint was destroyed by a save that failed midway (disk full after {limit} bytes; "
        f"it raised: {output[7:200]}): write the new checkpoint to a temporary file in the same folder, "
        f"then os.replace it over {path.name}"
    )
    files_after = sorted(os.listdir(path.parent))
    assert files_after == files_before, (
        f"a failed save must remove what it wrote: the folder held {files_before} before, {files_after} after"
    )


@pytest.mark.points(2)
@pytest.mark.timeout(150)
def test_a_process_killed_while_saving_never_leaves_a_corrupt_checkpoint(ck, impl, rng, tmp_path):
    path, before = previous_checkpoint(ck, rng, tmp_path)
    status, output, limit = save_in_a_crashing_child(impl, path, rng, on_limit="kill")
    assert status == -signal.SIGXFSZ, (
        f"the saving process was to be killed once it had written {limit} bytes of a file; it ended with "
        f"status {status} instead: {output[-1500:]}"
    )
    assert path.is_file() and path.read_bytes() == before, (
        f"the previous checkpoint was destroyed by a crash during save (the process was killed after writing "
        f"{limit} bytes): write the new checkpoint to a temporary file in the same folder, then os.replace it "
        f"over {path.name}"
    )
    # A killed process cannot clean up, so a temporary file may be left; the next save must still work.
    again = {"format": "dl-course-checkpoint/1", "next": torch.arange(rng.randint(5, 50))}
    ck.save_checkpoint(path, again)
    assert_same(torch.load(path, weights_only=True), again, "the checkpoint saved after the crash")


@pytest.mark.points(3)
def test_loading_never_executes_code_from_the_file(ck, rng, tmp_path):
    marker = tmp_path / f"pwned-{rng.randrange(10**9)}"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "dl-course-checkpoint/1", "engine": Payload()}, evil)
    with pytest.raises(CourseError) as info:
        ck.load_checkpoint(evil)
    assert not marker.exists(), "loading the checkpoint ran the code inside it"
    assert str(evil) in str(info.value), "the error names the file"


@pytest.mark.points(2)
def test_truncated_or_foreign_files_give_a_clear_error_naming_the_path(ck, mgr, rng, tmp_path):
    good = tmp_path / "good.pt"
    ck.save_checkpoint(good, manager(mgr, tmp_path).state(trained_engine(1), LoopState()))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: int(len(data) * rng.uniform(0.1, 0.9))])
    text = tmp_path / "notes.pt"
    text.write_text("this is not a checkpoint\n")
    weights_only = tmp_path / "weights.pt"
    torch.save(CNNSimple().state_dict(), weights_only)  # a PyTorch file, but not a checkpoint
    for path in (truncated, text, weights_only, tmp_path / "missing.pt"):
        with pytest.raises(CourseError) as info:
            ck.load_checkpoint(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, f"{path.name}: {message!r}"


@pytest.mark.points(2)
def test_weights_of_a_wrapped_model_load_into_a_bare_model(ck, rng):
    torch.manual_seed(rng.randrange(10**6))
    source = CNNSimple()
    plain = source.state_dict()
    wrapped = {
        "DataParallel": nn.DataParallel(source).state_dict(),
        "DDP": {f"module.{k}": v for k, v in plain.items()},  # what DistributedDataParallel saves
        "torch.compile": {f"_orig_mod.{k}": v for k, v in plain.items()},
        "DDP(compile)": {f"module._orig_mod.{k}": v for k, v in plain.items()},
    }
    for name, state in wrapped.items():
        bare = CNNSimple()
        ck.load_model_weights(bare, state)
        for key, value in bare.state_dict().items():
            assert torch.equal(value, plain[key]), f"{name}: {key} was not loaded"
