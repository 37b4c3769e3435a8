"""The netspec grammar, shipped as package data (netspec.grammars)."""
