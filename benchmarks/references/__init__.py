"""Hand-written networks, written plainly as a user of each framework would write them.

Each module holds the same two networks (LeNet-5 of specs/lenet5.net and the MLP
784-256-10 of specs/mlp.net) with a training step (softmax cross-entropy, plain SGD) and
an inference function, built from netspec's parameter dictionaries so that both sides of
a comparison start from the same weights:

- :mod:`benchmarks.references.torch_nets`: ``torch.nn`` modules and ``torch.optim.SGD``;
- :mod:`benchmarks.references.jax_nets`: pure functions, ``jax.value_and_grad`` and a
  jitted SGD update;
- :mod:`benchmarks.references.numpy_textbook`: "Deep Learning from Scratch" style,
  float64, im2col convolution, one Python object per layer.
"""
