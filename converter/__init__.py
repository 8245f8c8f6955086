"""firmforge's model side: IR, frontends, passes, quantization, the integer reference.

Public entry point::

    from firmforge.converter import convert
    proj = convert(model, example_input=x0, calibration=calib)
"""

from .convert import ConversionError, convert
from .project import Project

__all__ = ["ConversionError", "Project", "convert"]
__version__ = "0.1.0"
