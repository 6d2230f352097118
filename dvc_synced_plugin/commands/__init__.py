"""Commands: one module per command (its parser and `run(args) -> int`), looked up lazily."""
