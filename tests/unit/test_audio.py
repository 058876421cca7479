"""course_utils.audio: wav reading with clear errors, the mel filter bank, the log-mel spectrogram."""

import math
import struct
import wave

import pytest
import torch

from course_utils import audio


def write_wav(path, samples, rate=8000, width=2):
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(torch.as_tensor(samples, dtype=torch.int16).numpy().tobytes())
    return path


def test_read_wav_returns_the_samples_scaled(tmp_path):
    samples = torch.tensor([0, 16384, -32768, 32767], dtype=torch.int16)
    waveform = audio.read_wav(write_wav(tmp_path / "a.wav", samples), expected_rate=8000)
    assert waveform.dtype == torch.float32
    assert torch.allclose(waveform, samples.float() / 32768)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        audio.read_wav(tmp_path / "nope.wav")


def test_truncated_file_is_named(tmp_path):
    path = write_wav(tmp_path / "3_theo_7.wav", torch.zeros(1000, dtype=torch.int16))
    path.write_bytes(path.read_bytes()[:-500])  # the header still declares 1,000 frames
    with pytest.raises(audio.AudioFileError, match=r"3_theo_7\.wav is truncated"):
        audio.read_wav(path)


def test_cut_header_is_named(tmp_path):
    path = write_wav(tmp_path / "cut.wav", torch.zeros(100, dtype=torch.int16))
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(audio.AudioFileError, match="cut.wav"):
        audio.read_wav(path)


def test_float_wav_is_refused_as_not_pcm(tmp_path):
    data = struct.pack("<4f", 0.0, 0.5, -0.5, 0.25)
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)  # WAVE_FORMAT_IEEE_FLOAT
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path = tmp_path / "float.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with pytest.raises(audio.AudioFileError, match="float.wav is not a readable PCM"):
        audio.read_wav(path)


def test_wrong_sample_rate_is_refused(tmp_path):
    path = write_wav(tmp_path / "fast.wav", torch.zeros(100, dtype=torch.int16), rate=16000)
    with pytest.raises(audio.AudioFileError, match="16000 Hz, expected 8000 Hz"):
        audio.read_wav(path, expected_rate=8000)
    assert audio.read_wav(path).shape == (100,)  # without an expected rate it reads


def test_fixed_length_pads_and_cuts():
    x = torch.arange(1.0, 6.0)
    assert audio.fixed_length(x, 3).tolist() == [1, 2, 3]
    assert audio.fixed_length(x, 7).tolist() == [1, 2, 3, 4, 5, 0, 0]
    with pytest.raises(ValueError):
        audio.fixed_length(x, 0)


def test_mel_scale_round_trips_and_is_htk():
    assert abs(float(audio.hz_to_mel(700.0)) - 2595 * math.log10(2)) < 1e-9
    f = torch.tensor([0.0, 100.0, 1000.0, 4000.0], dtype=torch.float64)
    assert torch.allclose(audio.mel_to_hz(audio.hz_to_mel(f)), f)


def test_mel_filter_bank_is_triangles_that_sum_to_one():
    bank = audio.mel_filter_bank(2049, 10, 8000).double()  # fine frequency grid
    assert bank.shape == (2049, 10) and (bank >= 0).all() and bank.max() <= 1 + 1e-6
    bins = torch.linspace(0, 4000, 2049, dtype=torch.float64)
    corners = audio.mel_to_hz(torch.linspace(0, float(audio.hz_to_mel(4000.0)), 12, dtype=torch.float64))
    peaks = bins[bank.argmax(0)]
    assert torch.allclose(peaks, corners[1:-1], atol=4000 / 2048)  # each filter peaks at its centre corner
    inside = (bins >= corners[1]) & (bins <= corners[-2])
    assert torch.allclose(bank[inside].sum(1), torch.ones(int(inside.sum()), dtype=torch.float64), atol=1e-5)
    assert (bank[bins < corners[0]] == 0).all()
    nonzero = (bank > 0).sum(0)
    assert (nonzero[1:] >= nonzero[:-1]).all(), "mel filters widen with frequency"


def test_slaney_norm_gives_equal_areas():
    bank = audio.mel_filter_bank(4097, 8, 8000, norm="slaney").double()
    areas = bank.sum(0) * (4000 / 4096)
    assert torch.allclose(areas, torch.ones(8, dtype=torch.float64), atol=0.02)


def test_mel_filter_bank_refuses_bad_arguments():
    with pytest.raises(ValueError, match="f_max"):
        audio.mel_filter_bank(129, 32, 8000, f_max=5000)
    with pytest.raises(ValueError, match="norm"):
        audio.mel_filter_bank(129, 32, 8000, norm="area")


def test_log_mel_of_a_tone_peaks_in_its_band():
    t = torch.arange(8000) / 8000
    tone = torch.sin(2 * math.pi * 1000 * t)
    spec = audio.log_mel_spectrogram(tone, 8000, n_fft=256, hop_length=128, n_mels=32)
    assert spec.shape == (32, 63)
    band = int(spec[:, 10:50].mean(1).argmax())
    bank = audio.mel_filter_bank(129, 32, 8000)
    assert band == int(bank[32].argmax())  # bin 32 of 129 is 1,000 Hz
    batch = audio.log_mel_spectrogram(torch.stack([tone, tone]), 8000)
    assert torch.allclose(batch[0], spec) and torch.allclose(batch[1], spec)


def test_log_mel_refuses_integer_or_short_input():
    with pytest.raises(ValueError, match="float"):
        audio.log_mel_spectrogram(torch.zeros(1000, dtype=torch.int16), 8000)
    with pytest.raises(ValueError, match="samples"):
        audio.log_mel_spectrogram(torch.zeros(100), 8000)


def test_add_noise_has_the_requested_snr():
    g = torch.Generator().manual_seed(0)
    x = torch.sin(torch.arange(80000) / 3.0)
    noisy = audio.add_noise(x, 10.0, g)
    snr = 10 * math.log10(float(x.square().mean() / (noisy - x).square().mean()))
    assert abs(snr - 10.0) < 0.1
