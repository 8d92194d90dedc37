"""Tests of `starter.datasets.build_datasets`, one or more per dataset name.

Real data is used where the repository (MNIST) or the shared offline copy (CIFAR-10) has
it; everything else is a small fixture written in tmp_path in torchvision's own on-disk
format (idx .gz files, CIFAR pickles, JPEG folders), so the file runs offline in seconds.
No test touches the network: downloads are either off or monkeypatched to fail.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from starter import datasets as starter_datasets
from starter.config import DatasetConfig
from starter.datasets import build_datasets, resolve_root
from starter.errors import CourseError

REPO_DATA = Path(__file__).resolve().parents[1] / "data"
# The shared offline copy sits next to the repository: <repo>/../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
MNIST_FIRST_16_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1, 7]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, f"CourseError should be one line, got: {message!r}"
    return message


def files_under(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder`, with its size and mtime: a snapshot to compare."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- fixture writers


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """An idx file (the MNIST format), gzipped: magic 0x0000 08 <ndim>, big-endian dims, bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_pickle(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def cifar_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """n CIFAR rows: 1024 red, then 1024 green, then 1024 blue bytes, each row-major 32x32."""
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8)


def rows_to_hwc(rows: np.ndarray) -> np.ndarray:
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


@pytest.fixture
def fashion_root(tmp_path):
    """FashionMNIST/raw/*.gz with 50 train and 20 test images (only the .gz, as shipped)."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    written = {}
    for split, n in (("train", 50), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        write_idx_gz(raw / f"{split}-images-idx3-ubyte.gz", images)
        write_idx_gz(raw / f"{split}-labels-idx1-ubyte.gz", labels)
        written[split] = (images, labels)
    return tmp_path, written


@pytest.fixture
def cifar10_root(tmp_path):
    """A re-serialized CIFAR-10: 5 train batches of 4 images, a test batch of 6, a fresh
    batches.meta. None of the MD5s match torchvision's."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train_rows, train_labels = [], []
    for i, (name, n) in enumerate([(f"data_batch_{k}", 4) for k in range(1, 6)] + [("test_batch", 6)]):
        rows = cifar_images(rng, n)
        labels = [int(x) for x in (np.arange(n) + 2 * i) % 10]
        batch = {
            "batch_label": f"{'testing' if name == 'test_batch' else 'training'} batch {i + 1} of 5",
            "labels": labels,
            "data": rows,
            "filenames": [f"{name}_{j}.png" for j in range(n)],
        }
        write_pickle(folder / name, batch)
        if name == "test_batch":
            test_rows, test_labels = rows, labels
        else:
            train_rows.append(rows)
            train_labels += labels
    write_pickle(folder / "batches.meta", {"num_cases_per_batch": 4, "label_names": CIFAR10_CLASSES, "num_vis": 3072})
    expected = {"train": (np.vstack(train_rows), train_labels), "test": (test_rows, test_labels)}
    return tmp_path, expected


@pytest.fixture
def cifar100_root(tmp_path):
    """cifar-100-python/{train,test,meta} with 50 and 20 images, as torchvision reads them."""
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    expected = {}
    for split, n in (("train", 50), ("test", 20)):
        rows = cifar_images(rng, n)
        fine = [int(x) for x in rng.choice(100, n, replace=False)]
        write_pickle(
            folder / split,
            {
                "filenames": [f"{split}_{j}.png" for j in range(n)],
                "batch_label": f"{split}ing batch 1 of 1",
                "fine_labels": fine,
                "coarse_labels": [label // 5 for label in fine],
                "data": rows,
            },
        )
        expected[split] = (rows, fine)
    names = [f"fine_{i:02d}" for i in range(100)]
    write_pickle(folder / "meta", {"fine_label_names": names, "coarse_label_names": [f"coarse_{i}" for i in range(20)]})
    return tmp_path, expected, names


def write_jpeg_folder(folder: Path, classes_per_split: dict[str, list[str]]) -> None:
    """Real JPEG files of different sizes (one of them grayscale), per split and class."""
    rng = np.random.default_rng(3)
    sizes = [(40, 30), (64, 64), (33, 50)]  # (width, height)
    for split, classes in classes_per_split.items():
        for name in classes:
            target = folder / split / name
            target.mkdir(parents=True)
            for k, (w, h) in enumerate(sizes):
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(target / f"{k}.jpg", quality=90)
            Image.fromarray(rng.integers(0, 256, (45, 37), dtype=np.uint8), mode="L").save(target / "gray.jpg")


# ---------------------------------------------------------------- MNIST


def test_mnist_from_repo_data_has_official_sizes_shape_labels_and_normalisation():
    bundle = build_datasets(DatasetConfig(name="mnist", root=str(REPO_DATA), download=False))
    assert (len(bundle.train), len(bundle.test)) == (60000, 10000)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (10, 1, 28)
    assert bundle.train.targets[:16].tolist() == MNIST_FIRST_16_TRAIN_LABELS
    image, label = bundle.train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and label == 5
    batch = torch.stack([bundle.train[i][0] for i in range(512)])
    assert abs(batch.mean().item()) < 0.1, "normalised images should have a mean near 0"
    assert 0.7 < batch.std().item() < 1.3, "normalised images should have a std near 1"
    assert bundle.test[0][0].shape == (1, 28, 28)


def test_mnist_from_read_only_copy_decompresses_into_cache_and_leaves_folder_untouched(tmp_path, monkeypatch):
    root = tmp_path / "readonly"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copy2(REPO_DATA / "MNIST" / "raw" / f"{name}.gz", raw / f"{name}.gz")
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    raw.chmod(0o555)
    try:
        before = files_under(root)
        bundle = build_datasets(DatasetConfig(name="mnist", root=str(root), download=False))
        assert files_under(root) == before, "nothing may be written into a read-only data folder"
    finally:
        raw.chmod(0o755)
    assert sorted(before) == sorted(f"MNIST/raw/{name}.gz" for name in MNIST_FILES)
    assert (len(bundle.train), len(bundle.test)) == (60000, 10000)
    assert bundle.train.targets[:16].tolist() == MNIST_FIRST_16_TRAIN_LABELS
    assert bundle.train[0][0].shape == (1, 28, 28)
    cached = cache / "dl-course" / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in cached.iterdir()) == sorted(MNIST_FILES), "decompressed files go to the cache"


# ---------------------------------------------------------------- Fashion-MNIST, CIFAR-100 (fixtures)


def test_fashion_mnist_fixture_loads_with_counts_shape_classes_and_labels(fashion_root):
    root, written = fashion_root
    bundle = build_datasets(DatasetConfig(name="fashion_mnist", root=str(root), download=False))
    assert (len(bundle.train), len(bundle.test)) == (50, 20)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (10, 1, 28)
    assert len(bundle.classes) == 10 and bundle.classes[0] == "T-shirt/top"
    for split, ds in (("train", bundle.train), ("t10k", bundle.test)):
        images, labels = written[split]
        assert ds.targets.tolist() == labels.tolist()
        assert np.array_equal(ds.data.numpy(), images)
    image, label = bundle.train[3]
    assert image.shape == (1, 28, 28) and label == int(written["train"][1][3])
    mean, std = bundle.mean[0], bundle.std[0]
    expected = (torch.from_numpy(written["train"][0][3]).float() / 255 - mean) / std
    assert torch.allclose(image[0], expected, atol=1e-5)
    # A writable raw/ folder gets the decompressed files next to the .gz ones.
    assert all((root / "FashionMNIST" / "raw" / name).is_file() for name in MNIST_FILES)


def test_cifar100_fixture_loads_with_counts_shape_100_classes_and_labels(cifar100_root):
    root, expected, names = cifar100_root
    bundle = build_datasets(DatasetConfig(name="cifar100", root=str(root), download=False))
    assert (len(bundle.train), len(bundle.test)) == (50, 20)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (100, 3, 32)
    assert bundle.classes == names
    for split, ds in (("train", bundle.train), ("test", bundle.test)):
        rows, fine = expected[split]
        assert list(ds.targets) == fine
        assert np.array_equal(ds.data, rows_to_hwc(rows))
    image, label = bundle.test[5]
    assert image.shape == (3, 32, 32) and label == expected["test"][1][5]


# ---------------------------------------------------------------- CIFAR-10


def test_cifar10_reserialized_fixture_loads_despite_md5_mismatch(cifar10_root):
    root, expected = cifar10_root
    bundle = build_datasets(DatasetConfig(name="cifar10", root=str(root), download=False))
    assert (len(bundle.train), len(bundle.test)) == (20, 6)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (10, 3, 32)
    assert bundle.classes == CIFAR10_CLASSES
    for split, ds in (("train", bundle.train), ("test", bundle.test)):
        rows, labels = expected[split]
        assert list(ds.targets) == labels
        assert np.array_equal(ds.data, rows_to_hwc(rows))
    image, label = bundle.train[7]
    assert image.shape == (3, 32, 32) and label == expected["train"][1][7]


def test_cifar10_augment_keeps_3x32x32_train_and_plain_test(cifar10_root):
    root, _ = cifar10_root
    bundle = build_datasets(DatasetConfig(name="cifar10", root=str(root), download=False), augment=True)
    assert bundle.train[0][0].shape == (3, 32, 32)
    assert torch.equal(bundle.test[0][0], bundle.test[0][0]), "the test transform must not be random"


def real_cifar10_candidates() -> list[Path]:
    candidates = [Path(os.environ["DATA_ROOT"]).expanduser()] if os.environ.get("DATA_ROOT") else []
    return [*candidates, SHARED_DATA]


def test_cifar10_real_copy_has_50000_10000_images_and_5000_per_class():
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    found = [c for c in real_cifar10_candidates() if all((c / "cifar-10-batches-py" / n).is_file() for n in names)]
    if not found:
        looked = ", ".join(str(c / "cifar-10-batches-py") for c in real_cifar10_candidates())
        pytest.skip(f"no real CIFAR-10 copy; looked in {looked}")
    bundle = build_datasets(DatasetConfig(name="cifar10", root=str(found[0]), download=False))
    assert (len(bundle.train), len(bundle.test)) == (50000, 10000)
    assert bundle.classes == CIFAR10_CLASSES
    assert bundle.train[0][0].shape == (3, 32, 32) and bundle.test[0][0].shape == (3, 32, 32)
    assert torch.bincount(torch.as_tensor(bundle.train.targets), minlength=10).tolist() == [5000] * 10
    assert torch.bincount(torch.as_tensor(bundle.test.targets), minlength=10).tolist() == [1000] * 10


def test_cifar10_truncated_batch_raises_course_error_naming_folder(cifar10_root):
    root, _ = cifar10_root
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name="cifar10", root=str(root), download=False))
    assert str(root / "cifar-10-batches-py") in one_line_error(excinfo)


def test_cifar10_missing_meta_file_raises_course_error_naming_folder(cifar10_root):
    root, _ = cifar10_root
    (root / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name="cifar10", root=str(root), download=False))
    assert str(root / "cifar-10-batches-py") in one_line_error(excinfo)


@pytest.mark.parametrize(
    "corruption, expected_words",
    [
        ("label_out_of_range", "labels outside 0..9"),
        ("negative_label", "labels outside 0..9"),
        ("fewer_labels_than_images", "labels for"),
        ("rows_not_3072_bytes", "unreadable"),
        ("not_a_batch_dict", "unreadable"),
    ],
)
def test_cifar10_wrong_content_raises_course_error_naming_folder(cifar10_root, corruption, expected_words):
    root, _ = cifar10_root
    path = root / "cifar-10-batches-py" / "test_batch"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    if corruption == "label_out_of_range":
        batch["labels"][2] = 10
    elif corruption == "negative_label":
        batch["labels"][0] = -1
    elif corruption == "fewer_labels_than_images":
        batch["labels"] = batch["labels"][:-1]
    elif corruption == "rows_not_3072_bytes":
        batch["data"] = batch["data"][:, :1000]
    else:
        batch = ["not", "a", "CIFAR", "batch"]
    write_pickle(path, batch)
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name="cifar10", root=str(root), download=False))
    message = one_line_error(excinfo)
    assert str(root / "cifar-10-batches-py") in message
    assert expected_words in message


# ---------------------------------------------------------------- ImageFolder


def test_imagefolder_loads_real_jpegs_cropped_to_image_size(tmp_path):
    folder = tmp_path / "pets"
    write_jpeg_folder(folder, {"train": ["cat", "dog", "fox"], "val": ["cat", "dog", "fox"]})
    assert Image.open(folder / "train" / "cat" / "0.jpg").format == "JPEG"
    cfg = DatasetConfig(name="imagefolder", folder=str(folder), image_size=32, download=False)
    bundle = build_datasets(cfg)
    assert (len(bundle.train), len(bundle.test)) == (12, 12)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (3, 3, 32)
    assert bundle.classes == ["cat", "dog", "fox"]
    for ds in (bundle.train, bundle.test):
        for path, label in ds.samples:
            assert Path(path).parent.name == bundle.classes[label]
        for i in range(len(ds)):  # every size, the grayscale one included, becomes 3x32x32
            assert ds[i][0].shape == (3, 32, 32)
    augmented = build_datasets(cfg, augment=True)
    assert augmented.train[0][0].shape == (3, 32, 32)


def test_imagefolder_relative_folder_is_resolved_against_root(tmp_path):
    write_jpeg_folder(tmp_path / "pets", {"train": ["cat", "dog"], "val": ["cat", "dog"]})
    bundle = build_datasets(
        DatasetConfig(name="imagefolder", root=str(tmp_path), folder="pets", image_size=16, download=False)
    )
    assert bundle.num_classes == 2 and bundle.train[0][0].shape == (3, 16, 16)


def test_imagefolder_missing_val_raises_course_error_naming_path(tmp_path):
    folder = tmp_path / "pets"
    write_jpeg_folder(folder, {"train": ["cat", "dog"]})
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name="imagefolder", folder=str(folder), image_size=32))
    assert str(folder / "val") in one_line_error(excinfo)


def test_imagefolder_mismatched_classes_raise_course_error(tmp_path):
    folder = tmp_path / "pets"
    write_jpeg_folder(folder, {"train": ["cat", "dog"], "val": ["bird", "cat"]})
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name="imagefolder", folder=str(folder), image_size=32))
    message = one_line_error(excinfo)
    assert str(folder) in message and "must match" in message


# ---------------------------------------------------------------- synthetic


def test_synthetic_is_mnist_shaped_deterministic_and_has_every_class(tmp_path):
    # No data folder is needed: the root points at an empty folder.
    first = build_datasets(DatasetConfig(name="synthetic", root=str(tmp_path), download=False))
    second = build_datasets(DatasetConfig(name="synthetic"))
    assert (len(first.train), len(first.test)) == (10000, 2000)
    assert (first.num_classes, first.in_channels, first.image_size) == (10, 1, 28)
    assert len(first.classes) == 10
    image, label = first.train[0]
    assert image.shape == (1, 28, 28) and 0 <= int(label) < 10
    for a, b in ((first.train, second.train), (first.test, second.test)):
        assert all(torch.equal(x, y) for x, y in zip(a.tensors, b.tensors, strict=True)), "two builds must be equal"
        assert torch.bincount(a.tensors[1], minlength=10).min() > 0, "every class must be present"
    assert not torch.equal(first.train.tensors[0][:2000], first.test.tensors[0]), "train and test differ"


def nearest_class_mean_accuracy(bundle) -> float:
    x, y = bundle.train.tensors
    x_test, y_test = bundle.test.tensors
    means = torch.stack([x[y == c].mean(0) for c in range(bundle.num_classes)]).flatten(1)
    predicted = torch.cdist(x_test.flatten(1), means).argmin(1)
    return (predicted == y_test).float().mean().item()


def test_synthetic_is_learnable_by_nearest_class_mean_but_synthetic_random_is_not():
    learnable = nearest_class_mean_accuracy(build_datasets(DatasetConfig(name="synthetic")))
    random = build_datasets(DatasetConfig(name="synthetic_random"))
    assert (len(random.train), random.train[0][0].shape, random.num_classes) == (10000, (1, 28, 28), 10)
    chance = nearest_class_mean_accuracy(random)
    assert learnable >= 0.5, f"synthetic should be learnable, nearest class mean got {learnable:.3f}"
    assert chance < 0.2, f"synthetic_random should stay near chance (0.1), got {chance:.3f}"


# ---------------------------------------------------------------- missing data, roots

TORCHVISION_NAMES = {
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_NAMES))
def test_missing_data_without_download_names_folder_looked_in(tmp_path, name):
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name=name, root=str(tmp_path), download=False))
    message = one_line_error(excinfo)
    assert str(tmp_path / TORCHVISION_NAMES[name][1]) in message
    assert "not found" in message and "dataset.root" in message
    assert list(tmp_path.iterdir()) == [], "download=False must not create anything"


@pytest.mark.parametrize("name", sorted(TORCHVISION_NAMES))
def test_missing_data_with_failing_download_says_downloading_failed(tmp_path, monkeypatch, name):
    from torchvision import datasets

    calls = []

    def no_network(self):
        calls.append(type(self).__name__)
        raise OSError("network unreachable")

    monkeypatch.setattr(getattr(datasets, TORCHVISION_NAMES[name][0]), "download", no_network)
    root = tmp_path / "new-root"
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name=name, root=str(root), download=True))
    message = one_line_error(excinfo)
    assert calls, "the download should have been attempted (and stopped by the monkeypatch)"
    assert "downloading it failed" in message and "network unreachable" in message
    assert str(root / TORCHVISION_NAMES[name][1]) in message


def test_missing_data_error_says_data_root_chose_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_ROOT", str(tmp_path))
    with pytest.raises(CourseError) as excinfo:
        build_datasets(DatasetConfig(name="mnist", root=None, download=False))
    message = one_line_error(excinfo)
    assert str(tmp_path / "MNIST" / "raw") in message and "$DATA_ROOT" in message


def test_resolve_root_prefers_explicit_root_then_data_root_then_repo_data(tmp_path, monkeypatch):
    monkeypatch.delenv("DATA_ROOT", raising=False)
    assert resolve_root(None) == (REPO_DATA, "the repository's data folder")
    assert starter_datasets.REPO_DATA == REPO_DATA
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "env"))
    assert resolve_root(None) == (tmp_path / "env", "$DATA_ROOT")
    assert resolve_root("x") == (Path("x"), "dataset.root")
    assert resolve_root(str(tmp_path / "cfg"))[0] == tmp_path / "cfg"
    monkeypatch.setenv("DATA_ROOT", "")
    assert resolve_root(None)[0] == REPO_DATA, "an empty $DATA_ROOT counts as unset"


# ---------------------------------------------------------------- subsets


def test_train_and_test_subset_limit_lengths_to_the_first_items(fashion_root):
    root, written = fashion_root
    bundle = build_datasets(DatasetConfig(name="fashion_mnist", root=str(root), train_subset=7, test_subset=3))
    assert (len(bundle.train), len(bundle.test)) == (7, 3)
    assert [bundle.train[i][1] for i in range(7)] == written["train"][1][:7].tolist()
    assert [bundle.test[i][1] for i in range(3)] == written["t10k"][1][:3].tolist()
    larger = build_datasets(DatasetConfig(name="fashion_mnist", root=str(root), train_subset=1000, test_subset=0))
    assert (len(larger.train), len(larger.test)) == (50, 20), "a subset larger than the set keeps it whole"
    synthetic = build_datasets(DatasetConfig(name="synthetic", train_subset=100, test_subset=30))
    assert (len(synthetic.train), len(synthetic.test)) == (100, 30)
