"""Op classes, one module per family. Importing this package imports every module in it, and
defining a ``Node`` subclass registers it (``Node.kinds``): nothing is listed by hand."""

import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
