"""course_utils.avmnist: FSDD names and split, feature cache, seeded pairing, split hygiene, PCA degradation."""

import wave

import pytest
import torch

from course_utils import audio, avmnist
from course_utils.data import ImageData


def write_wav(path, n=2000, rate=8000, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = (torch.randn(n, generator=g) * 3000).clamp(-32768, 32767).to(torch.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.numpy().tobytes())
    return path


def fake_fsdd(indices=range(0, 14), digits=range(10), speakers=("jackson", "theo")):
    names = [f"{d}_{s}_{i}.wav" for d in digits for s in speakers for i in indices]
    meta = [avmnist.parse_name(n) for n in names]
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([d for d, _, _ in meta])
    features = torch.randn(len(names), 1, 32, 63, generator=g) + labels.view(-1, 1, 1, 1).float()
    return avmnist.AudioData(features, labels, torch.tensor([avmnist.FSDD_SPEAKERS.index(s) for _, s, _ in meta]),
                             torch.tensor([i for _, _, i in meta]), tuple(names))


def fake_mnist(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageData("mnist", images, labels, tuple(map(str, range(10))), (0.1307,), (0.3081,))


def test_parse_name_and_official_split():
    assert avmnist.parse_name("7_jackson_32.wav") == (7, "jackson", 32)
    with pytest.raises(ValueError, match="not an FSDD file name"):
        avmnist.parse_name("jackson_7.wav")
    assert [avmnist.fsdd_split(i) for i in (0, 4, 5, 9, 10, 49)] == ["test", "test", "val", "val", "train", "train"]


def test_pairing_is_deterministic_same_digit_and_each_image_once():
    audio_labels = torch.arange(30) % 10
    image_labels = torch.arange(200) % 10
    a1, i1 = avmnist.pair_by_label(audio_labels, image_labels, seed=3)
    a2, i2 = avmnist.pair_by_label(audio_labels, image_labels, seed=3)
    a3, _ = avmnist.pair_by_label(audio_labels, image_labels, seed=4)
    assert torch.equal(a1, a2) and torch.equal(i1, i2)
    assert not torch.equal(a1, a3)
    assert torch.equal(audio_labels[a1], image_labels[i1])
    assert torch.equal(torch.sort(i1).values, torch.arange(200))  # every image exactly once
    counts = torch.bincount(a1, minlength=30)
    assert counts.min() >= 6 and counts.max() <= 7  # 20 images per digit over 3 recordings: round-robin


def test_pairing_refuses_a_digit_without_recordings():
    with pytest.raises(ValueError, match="digit 9"):
        avmnist.pair_by_label(torch.arange(9), torch.arange(10), seed=0)


def test_split_hygiene_no_image_or_recording_on_two_sides():
    fsdd = fake_fsdd()
    train, test = fake_mnist(600, 0), fake_mnist(200, 1)
    av = avmnist.build_av_mnist(train, test, fsdd, seed=0, pca_components=5, val_per_class=10)
    splits = av.splits()
    recordings = {name: set(s.recording) for name, s in splits.items()}
    assert not recordings["train"] & recordings["val"] and not recordings["train"] & recordings["test"]
    assert not recordings["val"] & recordings["test"]
    assert {avmnist.parse_name(r)[2] for r in recordings["test"]} <= set(range(5))
    assert {avmnist.parse_name(r)[2] for r in recordings["val"]} <= set(range(5, 10))
    assert min(avmnist.parse_name(r)[2] for r in recordings["train"]) >= 10
    assert not set(av.train.image_index.tolist()) & set(av.val.image_index.tolist())  # both index MNIST train
    assert len(set(av.test.image_index.tolist())) == len(av.test) == 200  # every MNIST test image, once
    assert len(set(av.train.image_index.tolist())) == len(av.train) == 500
    for split in splits.values():
        digits = torch.tensor([avmnist.parse_name(r)[0] for r in split.recording])
        assert torch.equal(digits, split.labels), f"{split.name}: a pair joins two different digits"


def test_build_is_deterministic_and_seeded():
    fsdd, train, test = fake_fsdd(), fake_mnist(600, 0), fake_mnist(200, 1)
    one = avmnist.build_av_mnist(train, test, fsdd, seed=0, pca_components=5, val_per_class=10)
    two = avmnist.build_av_mnist(train, test, fsdd, seed=0, pca_components=5, val_per_class=10)
    other = avmnist.build_av_mnist(train, test, fsdd, seed=1, pca_components=5, val_per_class=10)
    assert one.test.recording == two.test.recording and torch.equal(one.train.images, two.train.images)
    assert one.test.recording != other.test.recording


def test_pca_keeps_the_top_components():
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(784, 3, generator=g)
    images = ((torch.randn(500, 3, generator=g) @ basis.T) * 8 + 128).clamp(0, 255).to(torch.uint8).view(500, 1, 28, 28)
    pca = avmnist.PCADegrader(images, 3)
    assert pca.energy_kept > 0.95
    error = (pca(images) - images.float() / 255).abs().mean()
    assert error < 0.01
    assert avmnist.PCADegrader(images, 1).energy_kept < pca.energy_kept
    with pytest.raises(ValueError, match="components"):
        avmnist.PCADegrader(images, 0)


def test_compute_features_names_a_truncated_or_missing_file(tmp_path):
    for i in range(3):
        write_wav(tmp_path / f"1_theo_{i}.wav", seed=i)
    data = avmnist.compute_features(tmp_path, avmnist.FeatureParams(snr_db=None))
    assert data.features.shape == (3, 1, 32, 63) and data.labels.tolist() == [1, 1, 1]
    bad = tmp_path / "1_theo_1.wav"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(audio.AudioFileError, match="1_theo_1.wav is truncated"):
        avmnist.compute_features(tmp_path, avmnist.FeatureParams())
    with pytest.raises(FileNotFoundError, match="no wav files"):
        avmnist.compute_features(tmp_path / "empty", avmnist.FeatureParams())


def test_compute_features_refuses_a_wrong_sample_rate(tmp_path):
    write_wav(tmp_path / "2_george_0.wav", rate=16000)
    with pytest.raises(audio.AudioFileError, match=r"2_george_0\.wav is sampled at 16000 Hz, expected 8000"):
        avmnist.compute_features(tmp_path, avmnist.FeatureParams())


def test_feature_cache_is_keyed_and_reused(tmp_path, monkeypatch):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for i in range(2):
        write_wav(folder / f"4_lucas_{i}.wav", seed=i)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(avmnist, "recordings_dir", lambda download=True: folder)
    monkeypatch.setattr(avmnist, "FSDD_MANIFEST_SHA256", avmnist.manifest_sha256(folder))
    params = avmnist.FeatureParams(n_mels=16)
    first = avmnist.load_fsdd(params)
    files = list((tmp_path / "cache" / "features").glob("*.pt"))
    assert len(files) == 1 and params.key() in files[0].name
    monkeypatch.setattr(avmnist, "compute_features", lambda *a: pytest.fail("recomputed despite the cache"))
    again = avmnist.load_fsdd(params)
    assert torch.equal(first.features, again.features) and again.names == first.names
    assert avmnist.FeatureParams(n_mels=16, snr_db=5.0).key() != params.key()


def test_a_changed_recording_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "recordings"
    folder.mkdir()
    write_wav(folder / "4_lucas_0.wav")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(avmnist, "recordings_dir", lambda download=True: folder)
    with pytest.raises(RuntimeError, match="not v1.0.10"):
        avmnist.load_fsdd()


def test_recordings_dir_prefers_the_mirror(tmp_path, monkeypatch):
    (tmp_path / "fsdd" / "recordings").mkdir(parents=True)
    monkeypatch.setenv("COURSE_DATASETS", str(tmp_path))
    assert avmnist.recordings_dir(download=False) == (tmp_path / "fsdd" / "recordings").resolve()


def test_recordings_dir_without_mirror_or_cache_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATASETS", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="FSDD"):
        avmnist.recordings_dir(download=False)


def test_the_recordings_are_fsdd_v1_0_10():
    """The mirror (COURSE_DATASETS, as in CI) or, on a normal machine, the pinned download."""
    folder = avmnist.recordings_dir()
    names = sorted(p.name for p in folder.glob("*.wav"))
    assert len(names) == 3000
    assert sum(avmnist.fsdd_split(avmnist.parse_name(n)[2]) == "test" for n in names) == 300
    assert avmnist.manifest_sha256(folder) == avmnist.FSDD_MANIFEST_SHA256


def _fake_archive(tmp_path):
    """A .tar.gz laid out like GitHub's archive of the v1.0.10 tag, with two recordings and a README."""
    import io
    import tarfile

    source = tmp_path / "source"
    source.mkdir()
    for i in range(2):
        write_wav(source / f"5_yweweler_{i}.wav", seed=i)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(source.glob("*.wav")):
            archive.add(path, arcname=f"free-spoken-digit-dataset-1.0.10/recordings/{path.name}")
        readme = source / "README.md"
        readme.write_text("FSDD")
        archive.add(readme, arcname="free-spoken-digit-dataset-1.0.10/README.md")
    return buffer.getvalue(), avmnist.manifest_sha256(source)


class _Response:
    def __init__(self, payload):
        self.payload = payload

    def read(self):
        return self.payload

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def test_download_unpacks_the_recordings_and_checks_them(tmp_path, monkeypatch):
    payload, manifest = _fake_archive(tmp_path)
    monkeypatch.delenv("COURSE_DATASETS", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    urls = []
    monkeypatch.setattr(avmnist.urllib.request, "urlopen", lambda url, timeout: urls.append(url) or _Response(payload))
    monkeypatch.setattr(avmnist, "FSDD_MANIFEST_SHA256", manifest)
    folder = avmnist.recordings_dir()
    assert urls == [avmnist.FSDD_URL] and "v1.0.10" in urls[0]
    assert sorted(p.name for p in folder.iterdir()) == ["5_yweweler_0.wav", "5_yweweler_1.wav"]
    assert avmnist.recordings_dir() == folder and len(urls) == 1  # cached: no second download


def test_a_download_with_the_wrong_checksum_leaves_nothing(tmp_path, monkeypatch):
    payload, _ = _fake_archive(tmp_path)
    monkeypatch.delenv("COURSE_DATASETS", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(avmnist.urllib.request, "urlopen", lambda url, timeout: _Response(payload))
    with pytest.raises(FileNotFoundError, match="expected dbd573d7"):
        avmnist.recordings_dir()
    assert not (tmp_path / "cache" / "datasets" / "fsdd" / "recordings").exists()
