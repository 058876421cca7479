"""AV-MNIST: MNIST images paired with spoken digits of the Free Spoken Digit Dataset (FSDD v1.0.10).

Where the recordings come from: the ``fsdd/recordings/`` folder of the ``COURSE_DATASETS`` mirror (the same
setting as MNIST and CIFAR-10), else the cache ``<data_dir>/datasets/fsdd``, else the GitHub archive of
``Jakobovski/free-spoken-digit-dataset`` at tag v1.0.10, downloaded once. Either way the 3,000 files must match
:data:`FSDD_MANIFEST_SHA256` (SHA-256 over every file's name and SHA-256; GitHub does not promise stable archive
bytes, so the recordings are checked, not the archive).

Splits. FSDD's official split: recordings 0–4 of every speaker and digit are test (300), 5–49 train; this
module holds 5–9 of the training recordings out as validation (300) to choose hyper-parameters on. MNIST: its own
60,000 / 10,000 split, a class-stratified validation set held out of the 60,000. A pair joins an image and a
recording of the same digit from the same split, so nothing is ever paired across train, validation and test.
Every image of a split is used at most once; the recordings, fewer, are reused round-robin (each about equally
often), so the test set can hold as many pairs as there are test images.

Degradation (as AV-MNIST, Vielzeuf et al. 2018, does): images keep only their top principal components
(PCA fitted on training images), and the audio gets white noise at a fixed SNR, so neither modality alone
suffices. Spectrograms are cached under ``<data_dir>/features`` keyed by every feature parameter.

FSDD: Zohar Jackson et al., "Free Spoken Digit Dataset (FSDD)", v1.0.10, CC BY-SA 4.0
(https://github.com/Jakobovski/free-spoken-digit-dataset); attribute it and share derivatives alike.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import audio, config
from .atomic import write_bytes_atomic
from .data import ImageData, stratified_indices

FSDD_VERSION = "v1.0.10"
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/{FSDD_VERSION}.tar.gz"
FSDD_MANIFEST_SHA256 = "dbd573d7cafe79c4b49f65718115e1304e24e067fa39eff18a660dc6cb9c360f"
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_SAMPLE_RATE = 8000
FSDD_CITATION = ('Zohar Jackson, César Souza, Jason Flaks, Yuxin Pan, Hereman Nicolas, Adhish Thite, '
                 '"Free Spoken Digit Dataset (FSDD)", v1.0.10, https://github.com/Jakobovski/free-spoken-digit-dataset')
FSDD_LICENSE = "Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0)"
TEST_RECORDINGS = range(0, 5)  # FSDD's official test split
VAL_RECORDINGS = range(5, 10)  # held out of FSDD's training recordings by this course
_NAME = re.compile(r"(\d)_([a-z]+)_(\d+)\.wav")


def parse_name(name: str) -> tuple[int, str, int]:
    """``'7_jackson_32.wav'`` → ``(7, 'jackson', 32)``."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not an FSDD file name '{{digit}}_{{speaker}}_{{index}}.wav'")
    return int(match[1]), match[2], int(match[3])


def fsdd_split(index: int) -> str:
    """'test' (recordings 0–4, FSDD's official split), 'val' (5–9) or 'train' (10–49)."""
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"a recording index is a non-negative int, got {index!r}")
    return "test" if index in TEST_RECORDINGS else "val" if index in VAL_RECORDINGS else "train"


def manifest_sha256(folder: Path) -> str:
    """SHA-256 over the sorted lines ``'<name> <sha256 of file>'`` of every wav in ``folder``."""
    lines = "".join(f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in sorted(folder.glob("*.wav")))
    return hashlib.sha256(lines.encode()).hexdigest()


def _download(target: Path) -> None:
    """Fetch the v1.0.10 archive, unpack its recordings beside ``target``, check them, then rename into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(FSDD_URL, timeout=60) as response:  # noqa: S310 - a fixed https URL
        payload = response.read()
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        unpacked = Path(tmp) / "recordings"
        unpacked.mkdir()
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if member.isfile() and len(parts) == 3 and parts[1] == "recordings" and _NAME.fullmatch(parts[2]):
                    (unpacked / parts[2]).write_bytes(archive.extractfile(member).read())
        if (got := manifest_sha256(unpacked)) != FSDD_MANIFEST_SHA256:
            raise RuntimeError(f"the FSDD archive from {FSDD_URL} unpacked to recordings with manifest {got}, "
                               f"expected {FSDD_MANIFEST_SHA256}")  # fmt: skip
        unpacked.rename(target)


def recordings_dir(download: bool = True) -> Path:
    """The folder of FSDD wav files: the mirror's, else the cache's, else downloaded (checked) into the cache."""
    mirror = config.datasets_mirror()
    if mirror is not None and (mirror / "fsdd" / "recordings").is_dir():
        return mirror / "fsdd" / "recordings"
    cached = config.data_dir() / "datasets" / "fsdd" / "recordings"
    if cached.is_dir():
        return cached
    if not download:
        raise FileNotFoundError(f"FSDD is neither in {config.DATASETS_ENV} nor in {cached}")
    try:
        _download(cached)
    except (OSError, tarfile.TarError, RuntimeError) as error:
        shutil.rmtree(cached, ignore_errors=True)
        raise FileNotFoundError(
            f"FSDD {FSDD_VERSION} could not be loaded (looked in {config.DATASETS_ENV}/fsdd/recordings and {cached}; "
            f"download from {FSDD_URL} failed: {error}). Offline, set {config.DATASETS_ENV} to a folder holding "
            f"fsdd/recordings/, e.g. ../shared/datasets.") from error  # fmt: skip
    return cached


@dataclass(frozen=True)
class FeatureParams:
    """Everything that decides a spectrogram; the cache is keyed by all of it (and by the feature code)."""

    samples: int = 8000  # 1 s at 8 kHz: longer than 99 % of FSDD's recordings; longer ones are cut at the end
    n_fft: int = 256  # 32 ms windows
    hop_length: int = 128  # 16 ms hops → 63 frames
    n_mels: int = 32
    snr_db: float | None = 0.0  # white noise this many dB below each recording's power; None: clean audio
    noise_seed: int = 0  # the noise is part of the data set, the same for every training seed

    def key(self) -> str:
        code = Path(audio.__file__).read_bytes() + Path(__file__).read_bytes()
        text = repr(sorted(asdict(self).items())) + FSDD_MANIFEST_SHA256 + hashlib.sha256(code).hexdigest()
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class AudioData:
    """Log-mel spectrograms ``(N, 1, n_mels, frames)`` of FSDD recordings with digit, speaker and index."""

    features: torch.Tensor
    labels: torch.Tensor
    speakers: torch.Tensor  # position in FSDD_SPEAKERS
    indices: torch.Tensor  # the recording's number 0–49
    names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def split_of(self) -> list[str]:
        return [fsdd_split(int(i)) for i in self.indices]


def compute_features(folder: Path, params: FeatureParams) -> AudioData:
    """Read every wav of ``folder`` (8 kHz enforced), cut or pad to ``params.samples``, add noise, log-mel."""
    paths = sorted(folder.glob("*.wav"))
    if not paths:
        raise FileNotFoundError(f"no wav files in {folder}")
    meta = [parse_name(p.name) for p in paths]
    unknown = sorted({s for _, s, _ in meta} - set(FSDD_SPEAKERS))
    if unknown:
        raise ValueError(f"{folder} holds recordings of unknown speakers {unknown}; expected {FSDD_SPEAKERS}")
    waves = [audio.read_wav(path, expected_rate=FSDD_SAMPLE_RATE) for path in paths]
    rows = torch.stack([audio.fixed_length(wave, params.samples) for wave in waves])
    if params.snr_db is not None:
        power = torch.tensor([float(wave.square().mean()) for wave in waves]).unsqueeze(1)  # of the unpadded recording
        rows = audio.add_noise(rows, params.snr_db, torch.Generator().manual_seed(params.noise_seed), signal_power=power)
    spectra = audio.log_mel_spectrogram(rows, FSDD_SAMPLE_RATE, n_fft=params.n_fft,
                                        hop_length=params.hop_length, n_mels=params.n_mels)  # fmt: skip
    return AudioData(spectra.unsqueeze(1).contiguous(), torch.tensor([d for d, _, _ in meta]),
                     torch.tensor([FSDD_SPEAKERS.index(s) for _, s, _ in meta]), torch.tensor([i for _, _, i in meta]),
                     tuple(p.name for p in paths))  # fmt: skip


def load_fsdd(params: FeatureParams | None = None) -> AudioData:
    """FSDD's 3,000 log-mel spectrograms, from the feature cache or computed (checked recordings) and cached."""
    params = params or FeatureParams()
    cache = config.data_dir() / "features" / f"fsdd_{params.key()}.pt"
    if cache.is_file():
        try:
            saved = torch.load(cache, weights_only=True)
            return AudioData(saved["features"], saved["labels"], saved["speakers"], saved["indices"], tuple(saved["names"]))
        except (RuntimeError, KeyError, EOFError, ValueError, OSError):
            pass  # a damaged cache file is recomputed and replaced below
    folder = recordings_dir()
    if (got := manifest_sha256(folder)) != FSDD_MANIFEST_SHA256:
        raise RuntimeError(f"the FSDD recordings in {folder} are not v1.0.10 (manifest {got}, expected "
                           f"{FSDD_MANIFEST_SHA256}): a file is missing, extra or changed")  # fmt: skip
    data = compute_features(folder, params)
    buffer = io.BytesIO()
    torch.save({"features": data.features, "labels": data.labels, "speakers": data.speakers, "indices": data.indices,
                "names": list(data.names)}, buffer)  # fmt: skip
    write_bytes_atomic(cache, buffer.getvalue())
    return data


class PCADegrader:
    """Keep only the top ``components`` principal components of 28×28 images (fitted on training images)."""

    def __init__(self, images: torch.Tensor, components: int) -> None:
        flat = images.reshape(len(images), -1).double() / 255.0
        if not 0 < components <= flat.shape[1]:
            raise ValueError(f"components must lie in [1, {flat.shape[1]}], got {components}")
        self.mean = flat.mean(0)
        centred = flat - self.mean
        eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / len(flat))
        order = eigenvalues.argsort(descending=True)
        self.eigenvalues, self.basis = eigenvalues[order], eigenvectors[:, order[:components]]
        self.energy_kept = float(self.eigenvalues[:components].sum() / self.eigenvalues.sum())

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images → float images in [0, 1] projected onto the kept components, same shape."""
        flat = images.reshape(len(images), -1).double() / 255.0 - self.mean
        return ((flat @ self.basis) @ self.basis.T + self.mean).clamp(0, 1).float().reshape(images.shape)


def pair_by_label(audio_labels: torch.Tensor, image_labels: torch.Tensor, seed: int,
                  images_per_class: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Seeded pairs ``(audio index, image index)`` of the same digit; each image at most once, recordings round-robin.

    ``images_per_class`` images of each digit are drawn (all of them when None); each is given a recording of its
    digit, cycling through a seeded permutation of the recordings so each is used ⌊k⌋ or ⌈k⌉ times. Same inputs
    and seed, same pairs. Sorted by image index.
    """
    generator = torch.Generator().manual_seed(seed)
    audio_out, image_out = [], []
    for digit in torch.unique(image_labels).tolist():
        recordings = torch.nonzero(audio_labels == digit).flatten()
        images = torch.nonzero(image_labels == digit).flatten()
        if recordings.numel() == 0:
            raise ValueError(f"digit {digit} has images but no recording to pair them with")
        images = images[torch.randperm(images.numel(), generator=generator)]
        if images_per_class is not None:
            if images.numel() < images_per_class:
                raise ValueError(f"digit {digit} has {images.numel()} images, fewer than images_per_class={images_per_class}")
            images = images[:images_per_class]
        cycle = recordings[torch.randperm(recordings.numel(), generator=generator)]
        audio_out.append(cycle.repeat(images.numel() // cycle.numel() + 1)[: images.numel()])
        image_out.append(images)
    audio_index, image_index = torch.cat(audio_out), torch.cat(image_out)
    order = image_index.argsort()
    return audio_index[order], image_index[order]


@dataclass
class AVSplit:
    """Paired (image, spectrogram, digit) of one split, standardised; the indices say where each came from."""

    images: torch.Tensor  # (N, 1, 28, 28) float, degraded and standardised
    audio: torch.Tensor  # (N, 1, n_mels, frames) float, standardised with the training statistics
    labels: torch.Tensor
    image_index: torch.Tensor  # into MNIST train (train/val) or MNIST test (test)
    recording: tuple[str, ...]  # FSDD file names
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> AVSplit:
        index = torch.as_tensor(index, dtype=torch.long)
        return AVSplit(self.images[index], self.audio[index], self.labels[index], self.image_index[index],
                       tuple(self.recording[i] for i in index.tolist()), self.name)  # fmt: skip


@dataclass
class AVMnist:
    """The three AV-MNIST splits and the PCA that degraded their images; ``key``: how they were made (for caches)."""

    train: AVSplit
    val: AVSplit
    test: AVSplit
    pca: PCADegrader
    key: dict | None = None

    def splits(self) -> dict[str, AVSplit]:
        return {"train": self.train, "val": self.val, "test": self.test}


def build_av_mnist(mnist_train: ImageData, mnist_test: ImageData, fsdd: AudioData, *, seed: int = 0,
                   pca_components: int = 12, val_per_class: int = 500, train_per_class: int | None = None,
                   test_per_class: int | None = None) -> AVMnist:  # fmt: skip
    """AV-MNIST train / val / test: MNIST images (top ``pca_components`` only) paired with noisy speech.

    Validation: ``val_per_class`` MNIST training images per digit (seeded) with FSDD recordings 5–9. Test: MNIST test
    images (``test_per_class`` per digit, all when None) with FSDD recordings 0–4. Train: the rest. The PCA and
    the standardisation statistics come from the training split only.
    """
    if mnist_train.images.shape[1:] != (1, 28, 28) or mnist_test.images.shape[1:] != (1, 28, 28):
        raise ValueError("build_av_mnist needs MNIST images (1×28×28)")
    val_images = stratified_indices(mnist_train.labels, val_per_class, seed)
    is_val = torch.zeros(len(mnist_train), dtype=torch.bool)
    is_val[val_images] = True
    train_images = torch.nonzero(~is_val).flatten()
    split = fsdd.split_of()
    by_split = {name: torch.tensor([i for i, s in enumerate(split) if s == name]) for name in ("train", "val", "test")}
    sources = {"train": (mnist_train, train_images, train_per_class), "val": (mnist_train, val_images, None),
               "test": (mnist_test, torch.arange(len(mnist_test)), test_per_class)}  # fmt: skip
    degrade = PCADegrader(mnist_train.images[train_images[:: max(1, len(train_images) // 10_000)]], pca_components)
    splits, stats = {}, {}
    for offset, (name, (mnist, candidates, per_class)) in enumerate(sources.items()):
        recordings = by_split[name]
        a, i = pair_by_label(fsdd.labels[recordings], mnist.labels[candidates], seed + 1000 * offset, per_class)
        audio_index, image_index = recordings[a], candidates[i]
        images = degrade(mnist.images[image_index])
        if name == "train":
            stats = {"image": (images.mean(), images.std()), "audio": (fsdd.features[recordings].mean(),
                                                                        fsdd.features[recordings].std())}  # fmt: skip
        splits[name] = AVSplit((images - stats["image"][0]) / stats["image"][1],
                               (fsdd.features[audio_index] - stats["audio"][0]) / stats["audio"][1],
                               mnist.labels[image_index], image_index, tuple(fsdd.names[j] for j in audio_index.tolist()),
                               name)  # fmt: skip
    return AVMnist(splits["train"], splits["val"], splits["test"], degrade)
