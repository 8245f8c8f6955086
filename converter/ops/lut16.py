"""TFLite's int16 sigmoid and tanh: a 256-entry lookup table with linear interpolation.

These are the int16 LOGISTIC and TANH kernels of TFLite Micro (reference integer_ops logistic.h
and tanh.h, the ``int16_t`` overloads); the LSTM's gates use them, and an int16 LOGISTIC/TANH op
would too. Input and output are Q3.12 and Q0.15 (scales 2**-12 and 2**-15) once the input is
rescaled by ``(x * multiplier + round) >> left_shift``; ``multiplier == 0`` means the scale is a
power of two and the rescale is ``x * (3 << left_shift)``. The factor 3 maps the table's domain
[0, 10.67) onto the Q3.12 range, so one table step is 1/24.

``SIGMOID_TABLE[i]`` approximates ``sigmoid(i / 24)`` in Q0.16 (the last entry saturates at
65535). The values are TFLM's, read back from the tflite-micro package by running its int16 TANH
at input scales that land exactly on table points (``tests/test_tflm_lstm.py`` re-derives every
entry); they are not ``round(65536 * sigmoid(i / 24))``, which differs by one at 44 entries.

sigmoid (v = rescaled input, a = |v|, h = a >> 9, f = a & 511, T = SIGMOID_TABLE):
    r = h >= 255 ? 32767 << 10 : (T[h] << 9) + f * (T[h + 1] - T[h])           Q0.25
    y = (v >= 0 ? r + 2**9 : 2**25 - r + 2**9 - 1) >> 10                      Q0.15
tanh (tanh(x) = 2 sigmoid(2x) - 1, so half the input step: h = a >> 8, f = a & 255):
    r = h >= 255 ? 65535 << 8 : (T[h] << 8) + f * (T[h + 1] - T[h])           Q0.24
    y = (v >= 0 ? r - 2**23 + 2**7 : 2**23 - r + 2**7 - 1) >> 8               Q0.15
Every intermediate fits in int32 and is non-negative except the tanh numerator, whose right shift
is arithmetic (floor); the C twin (``ff_lstm.c``) spells that out with ``ff_asr32``.
"""

from __future__ import annotations

import numpy as np

SIGMOID_TABLE = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513,
    38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755,
    55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519,
    59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301,
    65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415,
    65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504,
    65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520,
    65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532,
    65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
], np.int64)


def _rescale(x: np.ndarray, multiplier: int, left_shift: int) -> np.ndarray:
    """``(x * multiplier + round) >> left_shift`` (floor shift); ``multiplier == 0`` is the
    power-of-two case ``x * (3 << left_shift)``."""
    if multiplier == 0:
        multiplier, left_shift = 3 << left_shift, 0
    rounding = (1 << (left_shift - 1)) if left_shift > 0 else 0
    return (np.asarray(x, np.int64) * multiplier + rounding) >> left_shift


def _interpolate(a: np.ndarray, step_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(saturated, T[h] << step_bits + f * (T[h + 1] - T[h])) for h = a >> step_bits."""
    h = a >> step_bits
    saturated = h >= 255
    hc = np.minimum(h, 254)
    lo, hi = SIGMOID_TABLE[hc], SIGMOID_TABLE[hc + 1]
    return saturated, (lo << step_bits) + (a & ((1 << step_bits) - 1)) * (hi - lo)


def sigmoid_s16(x: np.ndarray, multiplier: int = 0, left_shift: int = 0) -> np.ndarray:
    """int16 sigmoid, Q0.15 output (module docstring)."""
    v = _rescale(x, multiplier, left_shift)
    saturated, r = _interpolate(np.abs(v), 9)
    r = np.where(saturated, 0x7FFF << 10, r)
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return (r >> 10).astype(np.int16)


def tanh_s16(x: np.ndarray, multiplier: int = 0, left_shift: int = 0) -> np.ndarray:
    """int16 tanh, Q0.15 output (module docstring)."""
    v = _rescale(x, multiplier, left_shift)
    saturated, r = _interpolate(np.abs(v), 8)
    r = np.where(saturated, 0xFFFF << 8, r)
    r = np.where(v >= 0, r - (1 << 23) + (1 << 7), (1 << 23) - r + (1 << 7) - 1)
    return (r >> 8).astype(np.int16)
