"""The netspec language server (`netspec lsp`): diagnostics, hover, navigation, completion,
symbols, formatting and quick fixes for .net files, over the Language Server Protocol.

The protocol side needs the ``lsp`` extra (pygls, lsprotocol); the modules that read a
spec (:mod:`netspec.lsp.index`, :mod:`netspec.lsp.facts`) need neither. Nothing here
imports torch or jax.
"""
