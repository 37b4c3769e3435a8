"""IR to checked IR: shape and dtype inference, parameters, limits and lints."""
