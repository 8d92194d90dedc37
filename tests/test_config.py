"""The config tree: YAML files and overrides in, typed values out, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from starter import seams
from starter.config import Config, validate
from starter.config_loader import all_keys, load_config, to_dict
from starter.errors import CourseError

REPO = Path(__file__).resolve().parents[1]
DEFAULT = str(REPO / "assets" / "configs.yml")


def load(*overrides: str, files: tuple[str, ...] = (DEFAULT,)) -> Config:
    cfg = load_config(list(files), list(overrides))
    validate(cfg, list(seams.MODELS))
    return cfg


def error_of(*overrides: str, files: tuple[str, ...] = (DEFAULT,)) -> str:
    with pytest.raises(CourseError) as info:
        load(*overrides, files=files)
    message = str(info.value)
    assert "\n" not in message, "config errors are one line"
    return message


def test_default_file_loads_and_selects_the_naive_starter():
    cfg = load()
    assert cfg.dataset.name == "mnist" and cfg.model.name == "cnn_simple"
    assert cfg.course.impl == "assignments"
    assert seams.selected(cfg) == {}, "the default config must need no assignment code"


def test_required_keys_exist():
    keys = set(all_keys())
    for key in [
        "dataset.name", "dataset.root", "model.name", "train.epochs", "train.batch_size", "train.seed",
        "optim.name", "optim.lr", "optim.weight_decay", "run.dir", "course.impl",
    ]:  # fmt: skip
        assert key in keys


def test_every_schema_key_is_in_the_default_file_or_documented_default():
    data = yaml.safe_load(Path(DEFAULT).read_text())
    for section, values in data.items():
        for key in values:
            assert f"{section}.{key}" in all_keys(), f"{section}.{key} in configs.yml is not in the schema"


@pytest.mark.parametrize(
    "override, attr, expected",
    [
        ("train.epochs=7", ("train", "epochs"), 7),
        ("optim.lr=0.05", ("optim", "lr"), 0.05),
        ("optim.lr=1", ("optim", "lr"), 1.0),  # an int is a fine float
        ("optim.lr=1e-4", ("optim", "lr"), 1e-4),
        ("train.deterministic=true", ("train", "deterministic"), True),
        ("dataset.root=null", ("dataset", "root"), None),
        ("dataset.root=/some/where", ("dataset", "root"), "/some/where"),
        ("run.name=007", ("run", "name"), "007"),  # text keys keep the text
        ("dataset.name=cifar10", ("dataset", "name"), "cifar10"),
    ],
)
def test_override_converts_to_the_declared_type(override, attr, expected):
    value = getattr(getattr(load(override), attr[0]), attr[1])
    assert value == expected and type(value) is type(expected)


def test_later_overrides_and_files_win(tmp_path):
    extra = tmp_path / "extra.yml"
    extra.write_text("train:\n  epochs: 9\n  batch_size: 32\n")
    cfg = load("train.epochs=4", files=(DEFAULT, str(extra)))
    assert (cfg.train.epochs, cfg.train.batch_size) == (4, 32)


def test_unknown_key_names_it_and_suggests_the_close_match():
    message = error_of("train.epochz=1")
    assert "train.epochz" in message and "did you mean 'train.epochs'" in message
    assert "batch_size" in message  # lists the valid keys of the section


def test_unknown_section_suggests_the_close_match():
    message = error_of("trian.epochs=1")
    assert "'trian'" in message and "did you mean 'train'" in message


def test_invalid_choice_lists_the_valid_choices():
    message = error_of("dataset.name=cifra10")
    assert "cifra10" in message and "did you mean 'cifar10'" in message
    for choice in ("mnist", "fashion_mnist", "cifar100", "imagefolder", "synthetic"):
        assert choice in message


def test_unknown_model_name_lists_the_models():
    message = error_of("model.name=nope")
    assert "model.name='nope'" in message and "cnn_simple" in message


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("train.epochs=abc", "expected an integer"),
        ("train.epochs=2.5", "expected an integer"),
        ("train.deterministic=maybe", "expected true or false"),
        ("optim.lr=fast", "expected a number"),
        ("optim.lr=true", "expected a number"),
        ("train.epochs=0", "must be >= 1"),
        ("optim.lr=-0.1", "must be >= 0"),
        ("train.epochs", "section.key=value"),
        ("epochs=3", "section.key=value"),
        ("schedule.warmup_epochs=-1", "must be >= 0"),
        ("schedule.decay=linear", "valid choices: none, cosine, step"),
    ],
)
def test_bad_values_are_one_line_errors(override, fragment):
    assert fragment in error_of(override)


def test_impossible_combinations_are_rejected():
    assert "longer than training" in error_of("train.epochs=2", "schedule.warmup_epochs=3")
    assert "dataset.folder" in error_of("dataset.name=imagefolder")
    assert "deepspeed_config" in error_of("distributed.backend=deepspeed")


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("train:\n  epochs: 3\n   batch_size: [1\n")
    message = error_of(files=(str(bad),))
    assert str(bad) in message and "line" in message


def test_yaml_errors_in_files_name_the_file(tmp_path):
    bad = tmp_path / "typo.yml"
    bad.write_text("train:\n  epochz: 3\n")
    message = error_of(files=(str(bad),))
    assert "train.epochz" in message and str(bad) in message
    scalar = tmp_path / "scalar.yml"
    scalar.write_text("train: 3\n")
    assert "must be a mapping" in error_of(files=(str(scalar),))


def test_missing_config_file_is_an_error(tmp_path):
    assert "not found" in error_of(files=(str(tmp_path / "nope.yml"),))


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load("train.epochs=5", "dataset.name=synthetic", "run.name=x")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    assert load(files=(str(path),)) == cfg
