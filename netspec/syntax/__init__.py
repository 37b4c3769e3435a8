"""Source text to parse tree: the Lark grammar and its syntax errors."""
