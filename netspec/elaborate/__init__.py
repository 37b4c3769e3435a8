"""Parse tree to IR: constants, blocks, repeat and defaults are expanded here."""
