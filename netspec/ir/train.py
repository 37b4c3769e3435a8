"""The train section: data, loss, optimizer, schedule, regularisation and loop settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from netspec.ir._base import IRModel


class RandomCrop(IRModel):
    """Pad each side by ``padding`` zeros and crop the image's size back at a random place
    (torchvision's RandomCrop(size, padding)): a shift by up to ``padding`` pixels."""

    kind: Literal["random_crop"] = "random_crop"
    padding: int


class RandomShift(IRModel):
    """Shift by a whole number of pixels drawn from [-pixels, pixels] along each axis,
    filling with zeros (the same draw as ``random_crop(padding = pixels)``)."""

    kind: Literal["random_shift"] = "random_shift"
    pixels: int


class HorizontalFlip(IRModel):
    """Mirror the width axis with probability ``p``."""

    kind: Literal["horizontal_flip"] = "horizontal_flip"
    p: float = 0.5


class RandomRotate(IRModel):
    """Rotate about the image's centre by an angle drawn from [-degrees, degrees]
    (counter-clockwise as displayed), sampling ``bilinear`` or ``nearest``, zeros outside."""

    kind: Literal["random_rotate"] = "random_rotate"
    degrees: float
    interpolation: Literal["bilinear", "nearest"] = "bilinear"


Augmentation = Annotated[
    RandomCrop | RandomShift | HorizontalFlip | RandomRotate, Field(discriminator="kind")
]


class _DataBase(IRModel):
    normalize: bool = True
    flatten: bool = False
    one_hot: bool = False
    # Fraction of the training split held out for validation (0 = no validation split).
    validation: float = 0.0
    # Keep only the first N training samples (0 = all); for quick runs and overfit demos.
    limit: int = 0
    # Random changes to each training batch's images, in order (netspec.data.augment).
    augment: tuple[Augmentation, ...] = ()


class MnistData(_DataBase):
    source: Literal["mnist"] = "mnist"


class FashionMnistData(_DataBase):
    source: Literal["fashion_mnist"] = "fashion_mnist"


class DigitsData(_DataBase):
    """scikit-learn's bundled 8 x 8 digits; ``test`` is the held-out fraction."""

    source: Literal["digits"] = "digits"
    test: float = 0.2


class LinearData(_DataBase):
    """y = X w + b + noise with X ~ N(0, 1). With 2 features w = [2, -3.4], b = 4.2
    (D2L 3.1); with any other width w = 0.01 per feature, b = 0.05 (D2L's weight-decay
    demo)."""

    source: Literal["linear"] = "linear"
    samples: int = 1000
    features: int = 2
    noise: float = 0.01
    test: float = 0.2


class PolynomialData(_DataBase):
    """D2L 3.6: x ~ N(0, 1); inputs are x^k / k! for k = 0 .. features - 1; the target
    uses the first degree + 1 terms with weights 5, 1.2, -3.4, 5.6, plus noise."""

    source: Literal["polynomial"] = "polynomial"
    samples: int = 200
    degree: int = 3
    features: int = 20
    noise: float = 0.1
    test: float = 0.5


class XorData(_DataBase):
    source: Literal["xor"] = "xor"
    samples: int = 400
    noise: float = 0.1
    test: float = 0.25


class SpiralsData(_DataBase):
    source: Literal["spirals"] = "spirals"
    samples: int = 300
    classes: int = 3
    noise: float = 0.2
    test: float = 0.2


class SineData(_DataBase):
    """Forecasting a sine wave: ``length`` steps of sin(2 pi f t + phase), f uniform in
    [min_frequency, max_frequency] cycles per step and the phase uniform in [0, 2 pi),
    predict step ``length``; samples [length, 1], targets [1]."""

    source: Literal["sine"] = "sine"
    length: int = 20
    samples: int = 1000
    min_frequency: float = 0.02
    max_frequency: float = 0.1
    noise: float = 0.0
    test: float = 0.2


class AddingData(_DataBase):
    """The adding problem: samples [length, 2], a uniform value channel and a marker
    channel with one 1 in each half; the target [1] is the sum of the two marked values."""

    source: Literal["adding"] = "adding"
    length: int = 50
    samples: int = 1000
    test: float = 0.2


class CopyData(_DataBase):
    """Copy memory: ``remember`` symbols, ``length`` - 1 blanks, a delimiter and
    ``remember`` blanks, one-hot over blank, the symbols and the delimiter; the target is
    the remembered symbols one-hot, [remember, symbols]."""

    source: Literal["copy"] = "copy"
    length: int = 20
    symbols: int = 8
    remember: int = 10
    samples: int = 1000
    test: float = 0.2


class CsvInput(IRModel):
    """The columns of one model input, in the order the model takes them
    (``image("p0", "p1", ...)`` in a csv source's ``inputs``)."""

    name: str
    columns: tuple[str, ...]


class CsvData(_DataBase):
    source: Literal["csv"] = "csv"
    path: str
    target: str
    standardize: bool = True
    categorical: tuple[str, ...] = ()
    test: float = 0.2
    # Column groups, one per model input; empty: every column but the target is the one
    # input's features.
    inputs: tuple[CsvInput, ...] = ()


class NpzData(_DataBase):
    """Arrays x_train, y_train and optionally x_test, y_test (names configurable). For a
    model of several inputs, one array per input named after it (``image``, ``extra``)
    and ``<input>_test`` for a fixed test set, with y and y_test as here."""

    source: Literal["npz"] = "npz"
    path: str
    x: str = "x_train"
    y: str = "y_train"
    x_test: str = "x_test"
    y_test: str = "y_test"
    test: float = 0.2


class TextData(_DataBase):
    """Character-level language modelling from a UTF-8 text file: windows of ``window``
    characters, one every ``stride`` characters (0: the window, so they do not overlap),
    as integer indices into the vocabulary (the file's distinct characters, sorted); each
    step's target is the character that follows it. The last ``test`` fraction of the
    windows is the test set (held-out text, never read in training)."""

    source: Literal["text"] = "text"
    path: str
    window: int
    stride: int = 0
    test: float = 0.1


DataSpec = Annotated[
    MnistData
    | FashionMnistData
    | DigitsData
    | LinearData
    | PolynomialData
    | XorData
    | SpiralsData
    | SineData
    | AddingData
    | CopyData
    | CsvData
    | NpzData
    | TextData,
    Field(discriminator="source"),
]


class SoftmaxCrossEntropy(IRModel):
    kind: Literal["softmax_cross_entropy"] = "softmax_cross_entropy"
    class_weights: tuple[float, ...] | None = None


class BinaryCrossEntropy(IRModel):
    """Binary cross-entropy on logits (a sigmoid is part of the loss)."""

    kind: Literal["binary_cross_entropy"] = "binary_cross_entropy"


class MeanSquaredError(IRModel):
    kind: Literal["mse"] = "mse"


class HalfSumSquaredError(IRModel):
    """0.5 * sum((y - t)^2) / batch."""

    kind: Literal["half_sse"] = "half_sse"


class MeanAbsoluteError(IRModel):
    kind: Literal["l1"] = "l1"


LossSpec = Annotated[
    SoftmaxCrossEntropy
    | BinaryCrossEntropy
    | MeanSquaredError
    | HalfSumSquaredError
    | MeanAbsoluteError,
    Field(discriminator="kind"),
]


class Sgd(IRModel):
    """SGD as PyTorch defines it; ``momentum`` and ``nesterov`` in the spec are aliases."""

    kind: Literal["sgd"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False


class Adagrad(IRModel):
    kind: Literal["adagrad"] = "adagrad"
    lr: float = 0.01
    lr_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10


class Rmsprop(IRModel):
    kind: Literal["rmsprop"] = "rmsprop"
    lr: float = 0.01
    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    centered: bool = False


class Adam(IRModel):
    kind: Literal["adam"] = "adam"
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    amsgrad: bool = False


class AdamW(IRModel):
    kind: Literal["adamw"] = "adamw"
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.01
    amsgrad: bool = False


OptimizerSpec = Annotated[Sgd | Adagrad | Rmsprop | Adam | AdamW, Field(discriminator="kind")]


class _ScheduleBase(IRModel):
    # Epochs of linear warm-up from lr / (warmup + 1) before the schedule proper.
    warmup: int = 0


class ConstantSchedule(_ScheduleBase):
    kind: Literal["constant"] = "constant"


class StepSchedule(_ScheduleBase):
    kind: Literal["step"] = "step"
    step_size: int
    gamma: float = 0.1


class ExponentialSchedule(_ScheduleBase):
    kind: Literal["exponential"] = "exponential"
    gamma: float


class CosineSchedule(_ScheduleBase):
    kind: Literal["cosine"] = "cosine"
    t_max: int
    eta_min: float = 0.0


class ReduceOnPlateauSchedule(_ScheduleBase):
    """torch.optim.lr_scheduler.ReduceLROnPlateau with threshold_mode="abs": the rate is
    multiplied by ``factor`` (not below ``min_lr``) after more than ``patience`` epochs
    without an improvement of ``monitor`` by more than ``min_delta``, then held for
    ``cooldown`` epochs."""

    kind: Literal["reduce_on_plateau"] = "reduce_on_plateau"
    monitor: Literal["val_loss", "val_accuracy", "train_loss", "test_loss"] = "val_loss"
    factor: float = 0.1
    patience: int = 10
    min_delta: float = 0.0
    cooldown: int = 0
    min_lr: float = 0.0


class OneCycleSchedule(_ScheduleBase):
    """torch.optim.lr_scheduler.OneCycleLR (two phases, no momentum cycling), per step:
    from max_lr / div_factor up to ``max_lr`` (default: the optimizer's lr) over the first
    ``pct_start`` of the steps, then down to max_lr / div_factor / final_div_factor."""

    kind: Literal["one_cycle"] = "one_cycle"
    max_lr: float | None = None
    pct_start: float = 0.3
    anneal: Literal["cos", "linear"] = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4


ScheduleSpec = Annotated[
    ConstantSchedule
    | StepSchedule
    | ExponentialSchedule
    | CosineSchedule
    | ReduceOnPlateauSchedule
    | OneCycleSchedule,
    Field(discriminator="kind"),
]


class ClipSpec(IRModel):
    """Gradient clipping: by the global L2 norm of all gradients, or elementwise by value."""

    by: Literal["norm", "value"]
    threshold: float


class EarlyStopping(IRModel):
    monitor: Literal["val_loss", "val_accuracy", "train_loss", "test_loss"] = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True


class EmaSpec(IRModel):
    """An exponential moving average of the parameters, updated after every step."""

    decay: float = 0.999


class TopKAccuracy(IRModel):
    """The share of samples whose label is among the model's ``k`` largest outputs."""

    kind: Literal["top_k_accuracy"] = "top_k_accuracy"
    k: int


# loss and accuracy are the loss's own figures (always reported); mae, perplexity and
# top_k_accuracy
# are computed from the model's outputs on the evaluated splits (netspec.training.metrics).
Metric = Literal["loss", "accuracy", "mae", "perplexity"] | TopKAccuracy

# The arithmetic of each step's forward and backward: float32, or bfloat16 / float16
# with the weights, optimizer and update kept in float32 (docs/training.md, "Precision").
Precision = Literal["fp32", "bf16", "fp16"]


class TrainSpec(IRModel):
    """How to train one model. Regularisation lives on each parameter, not here."""

    model: str
    data: DataSpec
    loss: LossSpec
    optimizer: OptimizerSpec
    schedule: ScheduleSpec = ConstantSchedule()
    clip: ClipSpec | None = None
    batch_size: int = 32
    epochs: int = 10
    seed: int = 0
    metrics: tuple[Metric, ...] = ("loss",)
    early_stopping: EarlyStopping | None = None
    # What each sample is trained to reproduce: its target from the data, or ("input")
    # the sample itself, for autoencoders.
    target: Literal["data", "input"] = "data"
    ema: EmaSpec | None = None
    precision: Precision = "fp32"
