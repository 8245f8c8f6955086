"""firmforge's model side: IR, frontends, passes, quantization, the integer reference.

Public entry point::

    from firmforge.converter import convert
    proj = convert(model, example_input=x0, calibration=calib)
"""

from .compare import Comparison, compare_tflm
from .convert import ConversionError, SpikingOptions, convert
from .project import Project
from .sweeps import SweepError, pareto, sweep, write_results

__all__ = ["Comparison", "ConversionError", "Project", "SpikingOptions", "SweepError",
           "compare_tflm", "convert", "pareto", "sweep", "write_results"]
__version__ = "0.1.0"
