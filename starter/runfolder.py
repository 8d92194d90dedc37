"""Run folders: one folder per run holding everything needed to understand it later.

    runs/<YYYYmmdd-HHMMSS>-<name>/
        config.yaml     the resolved config (files + overrides), loadable with --configs
        meta.json       git commit (and whether the tree was dirty), seed, command, versions
        metrics.jsonl   one JSON object per epoch (written by the logger)
        steps.jsonl     per-step records, with logging.every_steps=N
        summary.json    written once at the end: final and best metrics, timings
        checkpoints/    Assignment 2

Files are written whole or not at all (temporary file, then rename), so a crash never
leaves a half-written summary that a grader would misread.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import yaml

from starter.config import Config
from starter.config_loader import to_dict
from starter.distributed import Distributed
from starter.errors import CourseError

REPO = Path(__file__).resolve().parents[1]


def create_run_dir(cfg: Config, dist: Distributed) -> Path:
    """Pick the folder on the main process (all ranks must agree), create it, write
    config.yaml and meta.json."""
    path = dist.broadcast_object(_choose_path(cfg) if dist.is_main else None)
    if dist.is_main:
        path.mkdir(parents=True, exist_ok=True)
        write_atomic(path / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
        write_json(path / "meta.json", run_meta(cfg, dist))
    dist.barrier()
    return path


@contextmanager
def discard_if_unused(path: Path, dist: Distributed):
    """Remove a run folder that this run created, if the block fails before anything but
    config.yaml and meta.json was written to it: a run that never started leaves no debris.
    A folder that held anything else (a run being resumed) is left as it is."""
    try:
        yield
    except BaseException:
        if dist.is_main and path.is_dir() and {p.name for p in path.iterdir()} <= {"config.yaml", "meta.json"}:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _choose_path(cfg: Config) -> Path:
    if cfg.run.folder:
        return Path(cfg.run.folder)
    name = cfg.run.name or f"{cfg.dataset.name}-{cfg.model.name}"
    if "/" in name or name.startswith("."):
        raise CourseError(f"run.name={name!r} must be a plain folder name (no '/', not starting with '.')")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = Path(cfg.run.dir) / f"{stamp}-{name}", 1
    while path.exists():  # two runs started in the same second
        n += 1
        path = Path(cfg.run.dir) / f"{stamp}-{name}-{n}"
    return path


def git_state(repo: Path = REPO) -> dict:
    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None
    except (OSError, subprocess.TimeoutExpired):  # no git installed
        commit, dirty = "", None
    return {"git_commit": commit or "unknown", "git_dirty": dirty}


def run_meta(cfg: Config, dist: Distributed) -> dict:
    return {
        **git_state(),
        "seed": cfg.train.seed,
        "command": [sys.executable, *sys.argv],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(dist.device),
        "world_size": dist.world_size,
    }


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: dict) -> None:
    write_atomic(path, json.dumps(obj, indent=2) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """The records of a metrics.jsonl / steps.jsonl file (for tests, graders, plots)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
