"""Post-training quantization to the TFLite int8 spec.

    ranges = calibrate(graph, batches, observer=MinMaxObserver)   # value name -> (lo, hi)
    qgraph = quantize(graph, ranges)                              # a new int8 Graph
    qgraph = quantize(graph, ranges, weight_dtype=DType.s4)       # int4 weights, packed
"""

from .calibrate import (
    CalibrationError,
    LogitObserver,
    MinMaxObserver,
    MSEObserver,
    Observer,
    PercentileObserver,
    calibrate,
)
from .params import QuantizationError
from .ptq import quantize

__all__ = ["CalibrationError", "LogitObserver", "MSEObserver", "MinMaxObserver", "Observer",
           "PercentileObserver", "QuantizationError", "calibrate", "quantize"]
