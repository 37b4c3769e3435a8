"""Augmentation, reduce_on_plateau, one_cycle and ema in a train section: each bad value
is an error at its place in the spec, and what the model cannot take is E031."""

from __future__ import annotations

import pytest

from netspec import analyze, load
from netspec.ir.train import HorizontalFlip, RandomCrop, RandomRotate, RandomShift
from tests.frontend.test_train_checks import DATA, EXTRA, FILE, at, found, one, spec

IMAGE = "[1, 8, 8]"
CONV = "flatten -> dense(10)"


def image_spec(data: str, **more: object) -> str:
    return spec(input=IMAGE, body=CONV, data=data, **more)  # type: ignore[arg-type]


def test_augmentations_are_read_in_order_with_their_defaults() -> None:
    text = image_spec(
        "digits(augment = [random_crop(padding = 2), horizontal_flip, random_shift(1), "
        "random_rotate(10, nearest)])"
    )
    train = load(text).trains[0]
    assert train.data.augment == (
        RandomCrop(padding=2),
        HorizontalFlip(p=0.5),
        RandomShift(pixels=1),
        RandomRotate(degrees=10.0, interpolation="nearest"),
    )
    assert analyze(text, FILE).diagnostics == []


@pytest.mark.parametrize(
    ("augment", "message", "place"),
    [
        ("random_crop(-4)", "expected an integer >= 0, found -4", "-4"),
        ("random_crop(padding = 0)", "random_crop: padding must be > 0, found 0", "0"),
        ("random_shift(0)", "random_shift: pixels must be > 0, found 0", "0"),
        ("horizontal_flip(1.5)", "horizontal_flip: p is a probability in [0, 1], found 1.5", "1.5"),
        ("random_rotate(200)", "random_rotate: degrees must be in (0, 180], found 200", "200"),
        (
            "random_rotate(10, cubic)",
            "expected bilinear or nearest, found the name 'cubic'",
            "cubic",
        ),
        ("random_flip", "unknown augmentation 'random_flip'", "random_flip"),
    ],
)
def test_a_bad_augmentation_is_an_error_at_its_argument(
    augment: str, message: str, place: str
) -> None:
    text = image_spec(f"digits(augment = [{augment}])")
    errors = [d for d in analyze(text, FILE).diagnostics if d.severity == "error"]
    assert [d.message for d in errors] == [message]
    line = text.splitlines()[DATA - 1]
    # The argument at fault, within the augmentation's call.
    assert at(errors[0]) == (DATA, line.rindex(place, line.index("[")) + 1)


def test_augmenting_a_source_of_no_images_is_an_error_at_the_option() -> None:
    text = spec(
        input="[20, 1]",
        body="lstm(8) -> last -> dense(1)",
        data="sine(augment = [random_crop(2)])",
        loss="mse",
    )
    error = one(text, "E004")
    assert error.message.startswith("sine makes no images: augment applies to image sources")
    assert at(error) == (DATA, text.splitlines()[DATA - 1].index("[") + 1)


@pytest.mark.parametrize(
    ("input", "body", "data", "shown"),
    [
        (
            "[64]",
            "dense(10)",
            "digits(flatten = true, augment = [horizontal_flip])",
            "x: float32[64]",
        ),
        (
            "[8, 8]",
            "flatten -> dense(10)",
            'npz("d.npz", augment = [horizontal_flip])',
            "x: float32[8, 8]",
        ),
    ],
)
def test_augmentation_needs_a_model_input_of_images(
    input: str, body: str, data: str, shown: str
) -> None:
    error = one(spec(input=input, body=body, data=data))
    assert error.message == (
        f"augment (horizontal_flip) needs image samples [C, H, W] of floats, but model 'm' "
        f"takes {shown}"
    )
    assert at(error)[0] == DATA


def test_augmentation_that_would_blank_the_image_is_an_error() -> None:
    error = one(image_spec("digits(augment = [random_shift(8)])"))
    assert error.message.startswith(
        "random_shift moves images by up to 8 pixels, but they are only 8 x 8"
    )


def test_augmentation_with_target_input_is_an_error() -> None:
    text = spec(
        input=IMAGE,
        body="flatten -> dense(64) -> reshape(1, 8, 8)",
        data="digits(augment = [horizontal_flip])",
        loss="mse",
        extra=("target input",),
    )
    error = one(text)
    assert error.message == "augment with target input would change each input but not its target"


# -- schedules and ema -----------------------------------------------------------------


def test_plateau_on_a_missing_split_is_an_error_at_the_schedule() -> None:
    error = one(spec(extra=("schedule reduce_on_plateau(val_loss)",)))
    assert error.message == (
        "reduce_on_plateau monitors val_loss, but the data has no validation split"
    )
    assert at(error)[0] == EXTRA


def test_plateau_on_accuracy_of_a_regression_is_an_error() -> None:
    text = spec(
        data="digits(flatten = true, validation = 0.1, one_hot = true)",
        loss="mse",
        extra=("schedule reduce_on_plateau(monitor = val_accuracy)",),
    )
    assert "mse is a regression loss: it has no accuracy" in one(text).message


def test_a_plateau_patience_the_run_cannot_reach_is_a_warning() -> None:
    text = spec(
        data="digits(flatten = true, validation = 0.1)",
        extra=("schedule reduce_on_plateau(patience = 3)", "epochs 5"),
    )
    warning = one(text, "W006")
    assert warning.message == (
        "reduce_on_plateau(patience = 3) can never lower the rate in a run of 5 epochs: "
        "the earliest epoch at a lowered rate is 6"
    )
    reachable = spec(
        data="digits(flatten = true, validation = 0.1)",
        extra=("schedule reduce_on_plateau(patience = 3)", "epochs 6"),
    )
    assert found(reachable, "W006") == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("schedule one_cycle(0.1, warmup = 2)", "one_cycle has its own warm-up"),
        ("schedule one_cycle(pct_start = 1)", "one_cycle: pct_start must be in (0, 1), found 1"),
        ("schedule reduce_on_plateau(factor = 1)", "reduce_on_plateau: factor must be in (0, 1)"),
        ("ema 1", "ema: decay must be in (0, 1), found 1"),
        ("ema decay = 0", "ema: decay must be in (0, 1), found 0"),
    ],
)
def test_bad_schedule_and_ema_settings_are_errors(line: str, message: str) -> None:
    error = one(spec(extra=(line,)), "E004")
    assert error.message.startswith(message)
    assert at(error)[0] == EXTRA


def test_ema_is_read_positionally_or_by_name() -> None:
    for line in ("ema 0.99", "ema decay = 0.99"):
        train = load(spec(extra=(line,))).trains[0]
        assert train.ema is not None and train.ema.decay == 0.99
