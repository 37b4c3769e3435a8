"""Backends: each submodule compiles a checked IR into a runnable model.

Imported as ``netspec.backends.<name>``; see :mod:`netspec.backend` for the contract.
"""
