"""Speech-like inputs for the MLPerf Tiny keyword-spotting model, without speech data.

The model reads 49 frames x 10 MFCCs of one second of 16 kHz audio, computed as MLPerf Tiny's
KWS training does with ``tf.signal``: a 480-sample (30 ms) periodic Hann window every 320
samples (20 ms), |STFT| over 512 points, 40 triangular mel bands from 20 Hz to 4 kHz (HTK mel
scale, ``linear_to_mel_weight_matrix``), ``log(mel + 1e-6)``, and the first 10 coefficients of
``mfccs_from_log_mel_spectrograms`` (DCT-II, times ``1 / sqrt(2 * 40)``). Silence gives the
first coefficient 40 * log(1e-6) * 2 / sqrt(80) = -123.6, which is where the model's input
range starts (scale 0.585, zero point 83: -123.4 .. 25.7): the pipeline matches.

The audio is synthesized, as a crude formant synthesizer would make a word: one to three
syllables, each a vowel (a glottal pulse train at 90-260 Hz through three resonators at random
formant frequencies, under a smooth envelope) with optional consonants (band-passed noise
bursts) before and after it, placed at a random time in the second, at a random level, over
background noise; one clip in ten is background noise alone. These are not words, but their
MFCCs have the statistics of the features the model was trained on (energy contours, spectral
envelopes, the silence around a word), unlike random integers.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

RATE = 16_000
FRAME, STEP, FFT = 480, 320, 512
MEL_BANDS, LOW_HZ, HIGH_HZ = 40, 20.0, 4000.0
COEFFS = 10


def mel_matrix() -> np.ndarray:
    """(FFT // 2 + 1, MEL_BANDS) triangular weights on the HTK mel scale, DC bin excluded."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f) / 700.0)

    hz = np.linspace(0.0, RATE / 2, FFT // 2 + 1)[1:]
    edges = np.linspace(mel(LOW_HZ), mel(HIGH_HZ), MEL_BANDS + 2)
    m = mel(hz)[:, None]
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((m - lower) / (center - lower), (upper - m) / (upper - center)))
    return np.vstack([np.zeros((1, MEL_BANDS)), w])


def mfcc(audio: np.ndarray) -> np.ndarray:
    """(49, COEFFS) MFCCs of one second of audio in [-1, 1] (see the module docstring)."""
    frames = 1 + (len(audio) - FRAME) // STEP
    idx = np.arange(FRAME)[None, :] + STEP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)  # periodic Hann
    spec = np.abs(np.fft.rfft(audio[idx] * window, FFT))
    log_mel = np.log(spec @ mel_matrix() + 1e-6)
    k = np.arange(MEL_BANDS)
    dct = 2.0 * np.cos(np.pi * (2 * k[:, None] + 1) * np.arange(COEFFS)[None, :] / (2 * MEL_BANDS))
    return log_mel @ dct / np.sqrt(2.0 * MEL_BANDS)


def _resonate(x: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    """x through a two-pole resonator at ``freq`` Hz (unit gain near its peak)."""
    r = np.exp(-np.pi * bandwidth / RATE)
    a1, a2 = 2 * r * np.cos(2 * np.pi * freq / RATE), -r * r
    return lfilter([1 - r], [1.0, -a1, -a2], x)


def _envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    attack = max(1, int(n * rng.uniform(0.1, 0.3)))
    release = max(1, int(n * rng.uniform(0.2, 0.5)))
    env = np.ones(n)
    env[:attack] = np.linspace(0, 1, attack)
    env[n - release:] = np.minimum(env[n - release:], np.linspace(1, 0, release))
    return env


def _vowel(n: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(90, 260) * (1 + np.linspace(0, rng.uniform(-0.2, 0.2), n))
    phase = np.cumsum(f0 / RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    y = np.zeros(n)
    for lo, hi, bw in ((300, 900, 80), (900, 2500, 120), (2200, 3300, 180)):
        y += _resonate(pulses, rng.uniform(lo, hi), bw) * rng.uniform(0.5, 1.0)
    return y / (np.abs(y).max() + 1e-9) * _envelope(n, rng)


def _consonant(n: int, rng: np.random.Generator) -> np.ndarray:
    y = _resonate(rng.standard_normal(n), rng.uniform(1500, 3900), rng.uniform(300, 1500))
    return y / (np.abs(y).max() + 1e-9) * _envelope(n, rng) * rng.uniform(0.2, 0.7)


def word(rng: np.random.Generator) -> np.ndarray:
    """One second of a synthesized word over background noise (or noise alone, 1 in 10)."""
    audio = rng.standard_normal(RATE) * 10 ** rng.uniform(-3.5, -1.5)
    if rng.random() < 0.1:
        return np.clip(audio, -1, 1)
    parts = []
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.6:
            parts.append(_consonant(int(RATE * rng.uniform(0.03, 0.12)), rng))
        parts.append(_vowel(int(RATE * rng.uniform(0.08, 0.25)), rng))
        if rng.random() < 0.3:
            parts.append(_consonant(int(RATE * rng.uniform(0.03, 0.1)), rng))
    speech = np.concatenate(parts)[:int(RATE * 0.9)]
    start = rng.integers(0, RATE - len(speech))
    audio[start:start + len(speech)] += speech * 10 ** rng.uniform(-1.3, -0.2)
    return np.clip(audio, -1, 1)


def speech_like_inputs(n: int, scale: float, zero_point: int, rng: np.random.Generator
                       ) -> np.ndarray:
    """``n`` int8 inputs (n, 49, 10, 1) quantized with the model's input ``scale`` and
    ``zero_point``."""
    feats = np.stack([mfcc(word(rng)) for _ in range(n)])
    q = np.rint(feats / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)[..., None]
