"""Names of a package that import their module on first use (PEP 562).

The torch and JAX backend packages also hold framework-free tables that the code
generators read; exporting their framework classes lazily keeps ``netspec compile`` from
importing the framework.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each name to the
    submodule (relative, e.g. ``"_train"``) that defines it; a name is imported once and
    then kept in the package's namespace."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
