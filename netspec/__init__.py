"""netspec: a compiler for neural networks.

Write a network as a .net spec, check it, and compile it to NumPy, PyTorch or JAX::

    import netspec
    program = netspec.load("specs/lenet5.net")   # the checked IR
    model = program.model()                       # a CheckedModel
"""

from netspec.diagnostics import Diagnostic
from netspec.errors import NetspecError, ShapeError
from netspec.frontend import Analysis, analyze, load
from netspec.ir import CheckedModel, Program

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "CheckedModel",
    "Diagnostic",
    "NetspecError",
    "Program",
    "ShapeError",
    "__version__",
    "analyze",
    "load",
]
