"""netspec's standard library: blocks written in the language, imported as ``import std.NAME``."""
