"""MNIST and CIFAR-10 as in-memory tensors: offline mirror first, checksummed download otherwise.

Images are kept as uint8 ``(N, C, H, W)`` tensors (CIFAR-10's 50,000 training images take 150 MB)
and normalised batch by batch, which on a 2-core CPU is about twice as fast as a ``DataLoader``
over PIL images. Quick-mode subsets are class-stratified and deterministic.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import pickle
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import torch
import torch.nn.functional as F

from . import config
from .atomic import write_bytes_atomic

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither in the mirror, nor in the cache, nor downloadable."""


class DatasetCorruptError(DatasetNotFoundError):
    """Raised when dataset files are present but damaged; the message names what to delete or replace."""


@dataclass
class ImageData:
    """Images (uint8, N×C×H×W), integer labels and what is needed to normalise them."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be a uint8 N×C×H×W tensor, got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels shape {tuple(self.labels.shape)} does not match {self.images.shape[0]} images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images → float tensor standardised with the dataset's channel mean and std."""
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """All images normalised, and labels, on ``device`` (fine for MNIST and test sets)."""
        return self.normalize(self.images.to(device)), self.labels.to(device)

    def subset(self, indices: torch.Tensor | list[int]) -> ImageData:
        """A new ImageData holding only ``indices``."""
        index = torch.as_tensor(indices, dtype=torch.long)
        if index.numel() and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"subset indices must lie in [0, {len(self)}), got min {int(index.min())} max {int(index.max())}")
        return ImageData(self.name, self.images[index], self.labels[index], self.classes, self.mean, self.std)

    def stratified(self, per_class: int, seed: int = 0) -> ImageData:
        """A deterministic subset with ``per_class`` images of every class."""
        return self.subset(stratified_indices(self.labels, per_class, seed))


def stratified_indices(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of ``per_class`` examples of each class, drawn with a seeded generator."""
    if not isinstance(per_class, int) or per_class <= 0:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        if members.numel() < per_class:
            raise ValueError(f"class {cls} has only {members.numel()} examples, fewer than per_class={per_class}")
        chosen.append(members[torch.randperm(members.numel(), generator=generator)[:per_class]])
    return torch.sort(torch.cat(chosen)).values


# What a failed load raises when data is missing, damaged or not downloadable (torchvision: RuntimeError for "not
# found", "Error downloading" or a bad MD5; its IDX parser asserts on a bad header; torch: wrong tensor size).
# Anything else (PermissionError, a full disk, MemoryError, KeyboardInterrupt...) propagates unchanged.
_DATA_ERRORS = (RuntimeError, URLError, ConnectionError, TimeoutError, http.client.HTTPException, FileNotFoundError, EOFError,
                zlib.error, gzip.BadGzipFile, tarfile.TarError, pickle.UnpicklingError, AssertionError, ValueError, TypeError,
                KeyError)  # fmt: skip


def _not_found(dataset: str, looked_in: list[Path], cause: Exception) -> DatasetNotFoundError:
    places = ", ".join(str(p) for p in looked_in)
    return DatasetNotFoundError(
        f"{dataset} could not be loaded (looked in: {places}; cause: {cause}). Fix: on a machine with "
        f"internet, unset {config.DATASETS_ENV} and it downloads (checksummed) into {config.data_dir()}; "
        f"offline, set {config.DATASETS_ENV} to a folder holding torchvision's layout "
        f"(MNIST/raw/*.gz, cifar-10-batches-py/), e.g. {config.DATASETS_ENV}=../shared/datasets."
    )


def _corrupt_cache(dataset: str, folder: Path, mirror: Path | None, problems: list[str]) -> DatasetCorruptError:
    source = f"the mirror {mirror}" if mirror is not None else "a checksummed download"
    return DatasetCorruptError(
        f"The {dataset} cache in {folder} is corrupt or incomplete: {'; '.join(problems)}. "
        f"Fix: delete {folder} and re-run; it is rebuilt from {source}."
    )


def _corrupt_mirror(dataset: str, folder: Path, mirror: Path, problems: list[str]) -> DatasetCorruptError:
    return DatasetCorruptError(
        f"The {dataset} files in the mirror {folder} ({config.DATASETS_ENV}) are corrupt or incomplete: "
        f"{'; '.join(problems)}. A mirror must hold files byte-identical to torchvision's downloads. Fix: restore them "
        f"(`cd {mirror} && md5sum -c MD5SUMS` lists the bad ones), or unset {config.DATASETS_ENV} to download instead."
    )


def _md5(payload: bytes | Path) -> str:
    data = payload.read_bytes() if isinstance(payload, Path) else payload
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _bad_files(folder: Path, md5s: dict[str, str]) -> list[str]:
    """One line per file of ``md5s`` that is missing from ``folder`` or has the wrong MD5."""
    problems = []
    for name, md5 in md5s.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif (got := _md5(path)) != md5:
            problems.append(f"{path} has MD5 {got} ({path.stat().st_size:,} bytes), expected {md5}")
    return problems


def _cache_root() -> Path:
    return config.data_dir() / "datasets"


def _mnist_md5s() -> dict[str, str]:
    from torchvision.datasets import MNIST

    return dict(MNIST.resources)  # {"train-images-idx3-ubyte.gz": md5, ...}


def _copy_mnist_from_mirror(mirror: Path, raw: Path) -> None:
    """Copy each mirror .gz whose cached copy is missing or has the wrong MD5: checked, then renamed into place."""
    source_dir = mirror / "MNIST" / "raw"
    for name, md5 in _mnist_md5s().items():
        source, target = source_dir / name, raw / name
        if not source.is_file() or (target.is_file() and _md5(target) == md5):
            continue  # a file the mirror lacks is downloaded by torchvision
        payload = source.read_bytes()
        if (got := _md5(payload)) != md5:
            bad = f"{source} has MD5 {got} ({len(payload):,} bytes), expected {md5}"
            raise _corrupt_mirror("MNIST", source_dir, mirror, [bad])
        write_bytes_atomic(target, payload)  # temp file in raw/, then os.replace: never half a file
        (raw / name.removesuffix(".gz")).unlink(missing_ok=True)  # unpacked from the old file: unpack again


def _mnist_problems(raw: Path, train: bool = True, dataset: object = None) -> list[str]:
    """What is wrong with the cached MNIST: .gz MD5s, unpacked file sizes and, given them, the loaded tensors."""
    problems = _bad_files(raw, _mnist_md5s())
    for name in MNIST_FILES:
        unpacked, n = raw / name.removesuffix(".gz"), 60_000 if name.startswith("train") else 10_000
        size = 16 + n * 28 * 28 if "images" in name else 8 + n
        if unpacked.is_file() and unpacked.stat().st_size != size:
            problems.append(f"{unpacked} is {unpacked.stat().st_size:,} bytes, expected {size:,} ({n:,} items)")
    if dataset is not None:
        images, labels = dataset.data, dataset.targets
        n = 60_000 if train else 10_000
        if images.dtype != torch.uint8 or tuple(images.shape) != (n, 28, 28):
            problems.append(f"the images are {images.dtype} {tuple(images.shape)}, expected uint8 ({n}, 28, 28)")
        if tuple(labels.shape) != (n,) or (labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) <= 9):
            problems.append(f"the labels have shape {tuple(labels.shape)}, expected ({n},) with values 0-9")
    return problems


def load_mnist(train: bool = True) -> ImageData:
    """MNIST (60,000 train / 10,000 test). The mirror's .gz files are checked and copied into the writable cache.

    After torchvision unpacks them, the .gz MD5s, the unpacked sizes and the tensors' shapes are checked again:
    a damaged cache raises DatasetCorruptError naming the folder to delete.
    """
    from torchvision.datasets import MNIST

    root = _cache_root()
    folder, raw = root / "MNIST", root / "MNIST" / "raw"
    mirror = config.datasets_mirror()
    looked_in = [raw]
    if mirror is not None and (mirror / "MNIST" / "raw").is_dir():
        looked_in.insert(0, mirror / "MNIST" / "raw")
        raw.mkdir(parents=True, exist_ok=True)
        _copy_mnist_from_mirror(mirror, raw)
    legacy = [folder / "processed" / f for f in ("training.pt", "test.pt")]
    # torchvision downloads nothing when these exist, so a failure to read them means they are damaged.
    cached = all(p.is_file() for p in legacy) or all((raw / n.removesuffix(".gz")).is_file() for n in MNIST_FILES)
    try:
        # download=True checks each .gz's MD5 and only fetches what is missing or corrupt.
        dataset = MNIST(str(root), train=train, download=True)
    except _DATA_ERRORS as error:
        if cached:
            unreadable = f"torchvision could not read it ({type(error).__name__}: {error})"
            raise _corrupt_cache("MNIST", folder, mirror, [unreadable, *_mnist_problems(raw)]) from error
        raise _not_found("MNIST", looked_in, error) from error
    problems = _mnist_problems(raw, train, dataset)
    if problems:
        raise _corrupt_cache("MNIST", folder, mirror, problems)
    images = dataset.data.unsqueeze(1).contiguous()
    mean, std = _STATS["mnist"]
    return ImageData("mnist", images, dataset.targets.clone(), tuple(str(i) for i in range(10)), mean, std)


def load_cifar10(train: bool = True) -> ImageData:
    """CIFAR-10 (50,000 train / 10,000 test), read in place from the mirror when it has it.

    torchvision checks every batch's MD5; when that fails in the mirror, the error names the bad files.
    """
    from torchvision.datasets import CIFAR10

    mirror = config.datasets_mirror()
    in_mirror = mirror is not None and (mirror / "cifar-10-batches-py").is_dir()
    root = mirror if in_mirror else _cache_root()
    folder = root / "cifar-10-batches-py"  # CIFAR10.base_folder
    try:
        dataset = CIFAR10(str(root), train=train, download=not in_mirror)
    except _DATA_ERRORS as error:
        if in_mirror:
            md5s = dict(CIFAR10.train_list + CIFAR10.test_list + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]])
            problems = _bad_files(folder, md5s) or [f"{type(error).__name__}: {error}"]
            raise _corrupt_mirror("CIFAR-10", folder, root, problems) from error
        raise _not_found("CIFAR-10", [folder], error) from error
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    mean, std = _STATS["cifar10"]
    return ImageData("cifar10", images, torch.tensor(dataset.targets), CIFAR10_CLASSES, mean, std)


def load_dataset(name: str, train: bool = True) -> ImageData:
    """``'mnist'`` or ``'cifar10'``."""
    loaders = {"mnist": load_mnist, "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(loaders)}")
    return loaders[name](train)


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Standard CIFAR augmentation on a uint8 batch: random crop after zero padding, horizontal flip."""
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    rows = (top[:, None] + torch.arange(h))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w))[:, None, None, :]
    cropped = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


class Batches:
    """Iterates (normalised images, labels) mini-batches; seeded shuffling and optional augmentation.

    The same seed gives the same sequence of epochs, so training is reproducible.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        *,
        shuffle: bool = False,
        augment: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if len(data) == 0:
            raise ValueError(f"dataset {data.name!r} is empty")
        self.data, self.batch_size, self.shuffle, self.augment = data, batch_size, shuffle, augment
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (len(self.data) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            images = self.data.images[index]
            if self.augment:
                images = random_crop_flip(images, self.generator)
            yield self.data.normalize(images.to(self.device)), self.data.labels[index].to(self.device)
