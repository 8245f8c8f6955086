"""Post-training quantization to the TFLite int8 spec.

    ranges = calibrate(graph, batches, observer=MinMaxObserver)   # value name -> (lo, hi)
    qgraph = quantize(graph, ranges)                              # a new int8 Graph
    qgraph = quantize(graph, ranges, weight_dtype=DType.s4)       # int4 weights, packed
    ranges = search_ranges(graph, ranges, [x], make)   # for the output's sake (search.py)
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
from .search import search_ranges

__all__ = ["CalibrationError", "LogitObserver", "MSEObserver", "MinMaxObserver", "Observer",
           "PercentileObserver", "QuantizationError", "calibrate", "quantize", "search_ranges"]
