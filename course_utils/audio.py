"""Speech as tensors without torchaudio: read PCM wav files with ``wave``, log-mel spectrograms with ``torch.stft``.

``torchaudio.load`` needs TorchCodec on recent torch; the standard library's ``wave`` reads the PCM files of
the Free Spoken Digit Dataset directly. The mel filter bank is written out here (HTK mel scale, triangular
filters, the same layout as ``torchaudio.functional.melscale_fbanks``: ``(n_freqs, n_mels)``), so a
spectrogram is ``log(power_spectrum @ filter_bank + eps)``.

    waveform = read_wav("7_jackson_32.wav", expected_rate=8000)         # float32 in [-1, 1]
    features = log_mel_spectrogram(fixed_length(waveform, 8000), 8000)  # (n_mels, frames)
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import torch

_WAVE_FORMAT_PCM = 1


class AudioFileError(ValueError):
    """A wav file that cannot be used: truncated, not PCM, or not at the expected sample rate. Names the file."""


def _pcm_to_float(frames: bytes, sample_width: int, channels: int) -> torch.Tensor:
    """Little-endian PCM bytes → float32 mono waveform in [-1, 1] (channels averaged)."""
    if sample_width == 1:  # 8-bit wav is unsigned
        samples = (torch.frombuffer(bytearray(frames), dtype=torch.uint8).float() - 128.0) / 128.0
    elif sample_width == 2:
        samples = torch.frombuffer(bytearray(frames), dtype=torch.int16).float() / 32768.0
    elif sample_width == 4:
        samples = torch.frombuffer(bytearray(frames), dtype=torch.int32).double().div(2.0**31).float()
    else:
        raise ValueError(f"unsupported sample width {sample_width} bytes")
    return samples.view(-1, channels).mean(1) if channels > 1 else samples


def read_wav(path: Path | str, expected_rate: int | None = None) -> torch.Tensor:
    """A PCM wav file as a float32 mono waveform in [-1, 1].

    Raises FileNotFoundError for a missing file and :class:`AudioFileError` (a ValueError) naming the file when
    it is truncated (fewer sample bytes than its header declares, or a cut header), not integer PCM, or, given
    ``expected_rate``, recorded at another sample rate (resampling silently would change every feature).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"wav file {path} does not exist")
    try:
        with wave.open(str(path), "rb") as handle:
            rate, width, channels = handle.getframerate(), handle.getsampwidth(), handle.getnchannels()
            declared = handle.getnframes()
            frames = handle.readframes(declared)
    except (wave.Error, EOFError) as error:  # wave.Error covers "unknown format" (float, A-law...) and bad headers
        raise AudioFileError(f"{path} is not a readable PCM wav file ({error}); expected integer PCM "
                             f"(format {_WAVE_FORMAT_PCM}), mono or multi-channel") from error  # fmt: skip
    if len(frames) != declared * width * channels:
        got = len(frames) // max(width * channels, 1)
        raise AudioFileError(f"{path} is truncated: its header declares {declared:,} frames but the file holds "
                             f"{got:,}; re-copy or re-download it")  # fmt: skip
    if width not in (1, 2, 4):
        raise AudioFileError(f"{path} has {8 * width}-bit samples; expected 8-, 16- or 32-bit integer PCM")
    if expected_rate is not None and rate != expected_rate:
        raise AudioFileError(f"{path} is sampled at {rate} Hz, expected {expected_rate} Hz; resample it first "
                             f"(features computed at another rate are not comparable)")  # fmt: skip
    return _pcm_to_float(frames, width, channels)


def fixed_length(waveform: torch.Tensor, samples: int) -> torch.Tensor:
    """The first ``samples`` samples of ``waveform`` (last dimension), zero-padded at the end when shorter."""
    if not isinstance(samples, int) or samples <= 0:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    length = waveform.shape[-1]
    if length >= samples:
        return waveform[..., :samples]
    return torch.nn.functional.pad(waveform, (0, samples - length))


def hz_to_mel(frequency: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale: 2595 · log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(frequency, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: torch.Tensor | float) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filter_bank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None,
                    norm: str | None = None) -> torch.Tensor:  # fmt: skip
    """Triangular mel filters as a float32 ``(n_freqs, n_mels)`` matrix (torchaudio's ``melscale_fbanks`` layout).

    ``n_freqs`` is the number of STFT bins (``n_fft // 2 + 1``) spanning 0 … sample_rate / 2. The ``n_mels + 2``
    corner frequencies are equally spaced on the HTK mel scale between ``f_min`` and ``f_max``; filter m rises
    linearly from corner m to its peak (value 1) at corner m + 1 and falls to 0 at corner m + 2. ``norm="slaney"``
    divides each filter by half its width in Hz, so every filter has the same area instead of the same peak.
    """
    if not isinstance(n_freqs, int) or n_freqs < 2:
        raise ValueError(f"n_freqs must be an int ≥ 2 (n_fft // 2 + 1), got {n_freqs!r}")
    if not isinstance(n_mels, int) or n_mels <= 0:
        raise ValueError(f"n_mels must be a positive int, got {n_mels!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 ≤ f_min < f_max ≤ sample_rate / 2 = {sample_rate / 2}, got f_min={f_min}, f_max={f_max}")
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    bin_hz = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)  # the STFT bins' centre frequencies
    corners = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2, dtype=torch.float64))
    width = corners.diff()  # (n_mels + 1,)
    offset = corners.unsqueeze(0) - bin_hz.unsqueeze(1)  # (n_freqs, n_mels + 2): corner − bin
    rising = -offset[:, :-2] / width[:-1]  # (bin − lower corner) / (left width)
    falling = offset[:, 2:] / width[1:]  # (upper corner − bin) / (right width)
    bank = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        bank = bank * (2.0 / (corners[2:] - corners[:-2])).unsqueeze(0)
    return bank.float()


def log_mel_spectrogram(waveform: torch.Tensor, sample_rate: int, *, n_fft: int = 256, hop_length: int = 128,
                        n_mels: int = 32, f_min: float = 0.0, f_max: float | None = None,
                        eps: float = 1e-6) -> torch.Tensor:  # fmt: skip
    """``log(mel power spectrum + eps)`` of a ``(samples,)`` or ``(batch, samples)`` waveform: ``(..., n_mels, frames)``.

    Power spectrum: ``torch.stft`` with a periodic Hann window of ``n_fft`` samples, centred frames (reflect
    padding) every ``hop_length`` samples, ``|X|²``. Then the :func:`mel_filter_bank` and the log.
    """
    if waveform.ndim not in (1, 2) or not waveform.is_floating_point():
        raise ValueError(f"waveform must be a float (samples,) or (batch, samples) tensor, got {waveform.dtype} "
                         f"{tuple(waveform.shape)}")  # fmt: skip
    if waveform.shape[-1] <= n_fft // 2:
        raise ValueError(f"waveform has {waveform.shape[-1]} samples; need more than n_fft // 2 = {n_fft // 2}")
    if not 0 < hop_length <= n_fft:
        raise ValueError(f"hop_length must lie in (0, n_fft={n_fft}], got {hop_length}")
    if eps <= 0 or math.isnan(eps):
        raise ValueError(f"eps must be positive, got {eps}")
    window = torch.hann_window(n_fft, device=waveform.device, dtype=waveform.dtype)
    spectrum = torch.stft(waveform, n_fft, hop_length=hop_length, window=window, center=True, pad_mode="reflect",
                          return_complex=True)  # (..., n_fft // 2 + 1, frames)  # fmt: skip
    power = spectrum.real.square() + spectrum.imag.square()
    bank = mel_filter_bank(n_fft // 2 + 1, n_mels, sample_rate, f_min, f_max).to(power.device, power.dtype)
    mel = torch.matmul(power.transpose(-1, -2), bank).transpose(-1, -2)
    return torch.log(mel + eps)


def add_noise(waveform: torch.Tensor, snr_db: float, generator: torch.Generator,
              signal_power: torch.Tensor | float | None = None) -> torch.Tensor:  # fmt: skip
    """``waveform`` plus white Gaussian noise ``snr_db`` decibels below the signal's mean power.

    ``signal_power`` defaults to the waveform's own mean square; pass the unpadded recording's when the
    waveform was zero-padded, so the padding does not lower the noise (a ``(batch, 1)`` tensor for a batch).
    """
    if math.isnan(snr_db):
        raise ValueError("snr_db must be a number, got nan")
    if signal_power is None:
        signal_power = waveform.square().mean(-1, keepdim=True)
    power = torch.as_tensor(signal_power, dtype=waveform.dtype).clamp_min(1e-12)
    noise = torch.randn(waveform.shape, generator=generator, dtype=waveform.dtype)
    return waveform + noise * torch.sqrt(power / 10.0 ** (snr_db / 10.0))
