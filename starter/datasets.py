"""Datasets: the real ones through torchvision, an ImageFolder, and a synthetic stand-in.

`build_datasets(cfg.dataset, augment)` returns the train and test sets plus what a model
needs to know about them (channels, size, classes). Where the data lives:
`dataset.root`, else `$DATA_ROOT`, else the repository's `data/` folder (which holds MNIST,
so the quick start runs offline). Absent data is downloaded when `dataset.download` is
true and the internet is reachable; otherwise the error names the folder looked in.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset, TensorDataset

from starter.config import DatasetConfig
from starter.errors import CourseError

REPO_DATA = Path(__file__).resolve().parents[1] / "data"

# Per-channel mean and std of each training set, in [0, 1] pixel units.
STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet's
}


@dataclass
class DatasetBundle:
    """Train and test sets and the facts a model and a loader need about them."""

    train: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    image_size: int
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]


def resolve_root(root: str | None) -> tuple[Path, str]:
    """The data root and which setting chose it (for error messages)."""
    if root:
        return Path(root).expanduser(), "dataset.root"
    if os.environ.get("DATA_ROOT"):
        return Path(os.environ["DATA_ROOT"]).expanduser(), "$DATA_ROOT"
    return REPO_DATA, "the repository's data folder"


def build_datasets(cfg: DatasetConfig, augment: bool = False) -> DatasetBundle:
    if cfg.name in ("synthetic", "synthetic_random"):
        bundle = synthetic_bundle(learnable=cfg.name == "synthetic")
    else:
        root, chosen_by = resolve_root(cfg.root)
        if cfg.name in ("mnist", "fashion_mnist"):
            bundle = _mnist_family(cfg, root, chosen_by)
        elif cfg.name in ("cifar10", "cifar100"):
            bundle = _cifar(cfg, root, chosen_by, augment)
        else:
            bundle = _imagefolder(cfg, root, augment)
    if cfg.train_subset:
        bundle.train = Subset(bundle.train, range(min(cfg.train_subset, len(bundle.train))))
    if cfg.test_subset:
        bundle.test = Subset(bundle.test, range(min(cfg.test_subset, len(bundle.test))))
    return bundle


def _to_tensor(mean, std, augment_32: bool = False):
    # The classic transforms API: on 28x28 images it costs ~57 us per image here against
    # ~93 us for transforms.v2, and per-image cost is what a CPU loader pays.
    from torchvision import transforms as T

    steps = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment_32 else []
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


# ---------------------------------------------------------------- MNIST, Fashion-MNIST

MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def _mnist_family(cfg: DatasetConfig, root: Path, chosen_by: str) -> DatasetBundle:
    from torchvision import datasets

    cls, folder = {"mnist": (datasets.MNIST, "MNIST"), "fashion_mnist": (datasets.FashionMNIST, "FashionMNIST")}[
        cfg.name
    ]
    raw = root / folder / "raw"
    if not all((raw / f).exists() for f in MNIST_FILES):
        if all((raw / f"{f}.gz").exists() for f in MNIST_FILES):
            root = _gunzip_mnist(raw, folder)
        else:
            _download(cfg, root, chosen_by, raw, lambda: cls(str(root), train=True, download=True))
    mean, std = STATS[cfg.name]
    transform = _to_tensor(mean, std)
    train = cls(str(root), train=True, download=False, transform=transform)
    test = cls(str(root), train=False, download=False, transform=transform)
    return DatasetBundle(train, test, 10, 1, 28, list(train.classes), mean, std)


def _gunzip_mnist(raw: Path, folder: str) -> Path:
    """Decompress the .gz files torchvision cannot read directly. Next to them when that
    folder is writable, else into a user cache (a read-only shared copy stays untouched).
    Each file is written under a temporary name and renamed, so a kill leaves no half file."""
    # A folder with no write bit is meant read-only, even for root (who could write anyway).
    writable = os.access(raw, os.W_OK) and raw.stat().st_mode & 0o222
    target_root = raw.parents[1] if writable else _cache_root()
    target = target_root / folder / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        if (target / name).exists():
            continue
        tmp = target / f".{name}.tmp{os.getpid()}"
        with gzip.open(raw / f"{name}.gz", "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target / name)
    return target_root


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dl-course" / "data"


def _download(cfg: DatasetConfig, root: Path, chosen_by: str, looked_in: Path, fetch) -> None:
    how = (
        f"set dataset.root (or $DATA_ROOT) to a folder that holds it, or run once with internet "
        f"access and dataset.download=true to fetch it into {root}"
    )
    missing = f"dataset '{cfg.name}' not found in {looked_in} (root from {chosen_by})"
    if not cfg.download:
        raise CourseError(f"{missing}; {how}")
    created = [p for p in (root, *root.parents) if not p.exists()]  # deepest first
    try:
        root.mkdir(parents=True, exist_ok=True)
        fetch()
    except Exception as err:  # network errors come as URLError, OSError, RuntimeError...
        for folder in created:  # a wrong dataset.root leaves nothing behind
            shutil.rmtree(folder, ignore_errors=True)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CourseError(f"{missing}, and downloading it failed ({reason}); {how}") from None


# ---------------------------------------------------------------- CIFAR-10 / CIFAR-100


def _cifar(cfg: DatasetConfig, root: Path, chosen_by: str, augment: bool) -> DatasetBundle:
    from torchvision import datasets

    base, num_classes = (datasets.CIFAR10, 10) if cfg.name == "cifar10" else (datasets.CIFAR100, 100)

    class ContentChecked(base):
        """torchvision checks the files' MD5s; a re-serialized copy (same images, other
        order) fails that check. We check that the files exist, then check the content
        itself after loading (`_check_cifar_content`)."""

        def _check_integrity(self) -> bool:
            return _cifar_files_present(Path(self.root), self)

        def _load_meta(self) -> None:  # torchvision's also checks the meta file's MD5
            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    folder = root / base.base_folder
    if not _cifar_files_present(root, base):
        _download(cfg, root, chosen_by, folder, lambda: base(str(root), train=True, download=True))
    mean, std = STATS[cfg.name]
    try:
        train = ContentChecked(str(root), train=True, transform=_to_tensor(mean, std, augment))
        test = ContentChecked(str(root), train=False, transform=_to_tensor(mean, std))
    except Exception as err:  # a truncated or foreign pickle
        raise CourseError(f"{folder} holds unreadable CIFAR batch files ({type(err).__name__}: {err})") from None
    for split in (train, test):
        _check_cifar_content(split, num_classes, folder)
    return DatasetBundle(train, test, num_classes, 3, 32, list(train.classes), mean, std)


def _cifar_files_present(root: Path, cifar) -> bool:
    """`cifar`: a torchvision CIFAR class or instance (their file lists are class attributes)."""
    folder = root / cifar.base_folder
    names = [name for name, _ in cifar.train_list + cifar.test_list] + [cifar.meta["filename"]]
    return all((folder / name).is_file() for name in names)


def _check_cifar_content(ds, num_classes: int, folder: Path) -> None:
    labels = torch.as_tensor(ds.targets)
    problems = []
    if ds.data.ndim != 4 or tuple(ds.data.shape[1:]) != (32, 32, 3) or str(ds.data.dtype) != "uint8":
        problems.append(f"images have shape {tuple(ds.data.shape)} {ds.data.dtype}, expected (N, 32, 32, 3) uint8")
    if len(labels) != len(ds.data):
        problems.append(f"{len(labels)} labels for {len(ds.data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        problems.append(f"labels outside 0..{num_classes - 1}")
    if problems:
        raise CourseError(f"{folder} does not hold a valid CIFAR split: {'; '.join(problems)}")


# ---------------------------------------------------------------- ImageFolder


def _imagefolder(cfg: DatasetConfig, root: Path, augment: bool) -> DatasetBundle:
    from torchvision import datasets
    from torchvision import transforms as T

    folder = Path(cfg.folder).expanduser()
    folder = folder if folder.is_absolute() else root / folder
    for split in ("train", "val"):
        if not (folder / split).is_dir():
            raise CourseError(
                f"dataset.name=imagefolder: {folder / split} is not a folder; "
                f"dataset.folder must hold train/ and val/, each with one subfolder per class"
            )
    size = cfg.image_size
    mean, std = STATS["imagefolder"]
    tail = [T.ToTensor(), T.Normalize(mean, std)]
    if augment:
        train_tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), *tail])
    else:
        train_tf = T.Compose([T.Resize(size), T.CenterCrop(size), *tail])
    # The usual evaluation crop: resize to 256/224 of the crop, then take the centre.
    test_tf = T.Compose([T.Resize(round(size * 256 / 224)), T.CenterCrop(size), *tail])
    try:
        train = datasets.ImageFolder(str(folder / "train"), transform=train_tf)
        test = datasets.ImageFolder(str(folder / "val"), transform=test_tf)
    except (FileNotFoundError, RuntimeError) as err:
        raise CourseError(f"dataset.name=imagefolder: {err}") from None
    if test.classes != train.classes:
        raise CourseError(
            f"{folder}: val/ has classes {test.classes[:5]}... but train/ has {train.classes[:5]}...; they must match"
        )
    return DatasetBundle(train, test, len(train.classes), 3, size, train.classes, mean, std)


# ---------------------------------------------------------------- synthetic

SYNTHETIC_TRAIN, SYNTHETIC_TEST = 10_000, 2_000


def synthetic_bundle(learnable: bool = True, num_classes: int = 10) -> DatasetBundle:
    """An MNIST-shaped stand-in (1x28x28, 10 classes, 10,000 training samples), as in the
    course's DeepSpeed example. `learnable`: each class is a smooth random pattern, shown
    shifted, rescaled and under heavy noise, so a CNN must learn it (accuracy means
    something). Otherwise pixels and labels are independent noise: chance is the ceiling.
    The data is fixed (its own seeds), whatever train.seed is."""
    train = make_synthetic(SYNTHETIC_TRAIN, num_classes, sample_seed=1, learnable=learnable)
    test = make_synthetic(SYNTHETIC_TEST, num_classes, sample_seed=2, learnable=learnable)
    classes = [f"pattern_{i}" for i in range(num_classes)]
    return DatasetBundle(train, test, num_classes, 1, 28, classes, (0.0,), (1.0,))


def make_synthetic(n: int, num_classes: int, sample_seed: int, learnable: bool) -> TensorDataset:
    g = torch.Generator().manual_seed(sample_seed)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    if not learnable:
        return TensorDataset(torch.randn(n, 1, 28, 28, generator=g), labels)
    # The class patterns come from one fixed seed, shared by the train and test splits.
    coarse = torch.randn(num_classes, 1, 7, 7, generator=torch.Generator().manual_seed(0))
    patterns = F.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)
    patterns = patterns / patterns.flatten(1).std(dim=1).view(-1, 1, 1, 1)  # unit contrast per class
    scale = 0.5 + torch.rand(n, 1, 1, 1, generator=g)
    images = patterns[labels] * scale
    shifts = torch.randint(-3, 4, (n, 2), generator=g)
    for i in range(n):  # small random translations: position must not matter
        images[i] = torch.roll(images[i], shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 2))
    images += 1.5 * torch.randn(images.shape, generator=g)
    return TensorDataset(images, labels)
