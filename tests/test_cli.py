"""The command line as a user meets it: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from starter import seams
from starter.errors import EXIT_NOT_IMPLEMENTED, EXIT_USAGE, CourseError, run_cli

REPO = Path(__file__).resolve().parents[1]


def run_train(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "starter" / "train.py"), "--configs", str(REPO / "assets" / "configs.yml")]
    env = {**os.environ, **(env or {})}
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("train.epochz=1", "did you mean 'train.epochs'"),
        ("model.name=nope", "model.name='nope'"),
        ("dataset.name=imagenet", "valid choices"),
        ("train.batch_size=big", "expected an integer"),
        # A feature whose assignment file does not exist yet names the file to write.
        ("precision.name=bf16", "assignment_09/precision.py"),
    ],
)
def test_bad_config_exits_2_with_one_line_and_no_traceback(override, fragment, tmp_path):
    result = run_train("--override_args", override, f"run.dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == EXIT_USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir()), "no run folder is created for a config that was rejected"


def test_malformed_yaml_exits_2(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("train: [1, 2\n")
    result = subprocess.run(
        [sys.executable, str(REPO / "starter" / "train.py"), "--configs", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == EXIT_USAGE and "malformed YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_dataset_offline_exits_2_naming_the_folder(tmp_path):
    result = run_train("--override_args", "dataset.name=cifar100", f"dataset.root={tmp_path}",
                       "dataset.download=false", f"run.dir={tmp_path / 'runs'}")  # fmt: skip
    assert result.returncode == EXIT_USAGE, result.stderr
    assert str(tmp_path / "cifar-100-python") in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists(), "a run that never started leaves no run folder"


def test_a_wrong_dataset_root_creates_nothing_even_when_the_download_fails(tmp_path):
    wrong = tmp_path / "no" / "such" / "root"
    offline = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # a closed local port
    result = run_train("--override_args", "dataset.name=cifar10", f"dataset.root={wrong}", "dataset.download=true",
                       f"run.dir={tmp_path / 'runs'}", env=offline)  # fmt: skip
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "downloading it failed" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "neither the data root nor a run folder was created"


def test_a_stub_enabled_by_the_config_leaves_no_run_folder(tmp_path):
    result = run_train("--override_args", "dataset.name=synthetic", "schedule.decay=cosine", "course.impl=assignments",
                       f"run.dir={tmp_path / 'runs'}")  # fmt: skip
    assert result.returncode == EXIT_NOT_IMPLEMENTED, result.stderr
    assert not (tmp_path / "runs").exists(), "a run that never started leaves no run folder"


def test_not_implemented_stub_is_one_line_exit_3(capsys):
    def main(argv):
        raise NotImplementedError("A7: implement lr_at in assignments/assignment_07/schedule.py")

    assert run_cli(main, []) == EXIT_NOT_IMPLEMENTED
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["not implemented yet: A7: implement lr_at in assignments/assignment_07/schedule.py"]


def test_seam_loader_names_missing_files_and_attributes(tmp_path, monkeypatch):
    package = tmp_path / "fakeimpl" / "assignment_07"
    package.mkdir(parents=True)
    (tmp_path / "fakeimpl" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "schedule.py").write_text("X = 1\n")
    (package / "broken.py").write_text("import package_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert seams.load(seams.Seam(7, "schedule", "X"), "fakeimpl") == 1
    with pytest.raises(CourseError, match=r"fakeimpl/assignment_07/schedule.py must define build_scheduler"):
        seams.load(seams.SCHEDULE, "fakeimpl")
    with pytest.raises(CourseError, match=r"fakeimpl/assignment_07/nothere.py does not exist"):
        seams.load(seams.Seam(7, "nothere", "f"), "fakeimpl")
    with pytest.raises(CourseError, match=r"needs the package 'package_that_is_not_installed'"):
        seams.load(seams.Seam(7, "broken", "f"), "fakeimpl")
