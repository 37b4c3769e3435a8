"""Augmentation of training images: each operation against hand-computed small images,
and the draws a pure function of (seed, epoch, batch)."""

from __future__ import annotations

import numpy as np
import pytest

from netspec.data import augment
from netspec.data._augment import flip, rotate, shift
from netspec.errors import NetspecError
from netspec.ir.train import HorizontalFlip, RandomCrop, RandomRotate, RandomShift

IMAGE = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1 2 3] [4 5 6] [7 8 9]]


def test_shift_moves_content_and_fills_with_zeros() -> None:
    out = shift(IMAGE, np.array([1]), np.array([-1]))
    # out[h, w] = x[h + 1, w - 1]: one row up, one column right.
    assert out[0, 0].tolist() == [[0, 4, 5], [0, 7, 8], [0, 0, 0]]
    assert shift(IMAGE, np.array([0]), np.array([0]))[0, 0].tolist() == IMAGE[0, 0].tolist()


def test_shift_is_torchvisions_crop_of_the_padded_image() -> None:
    """random_crop(padding = p) at top-left (i, j) of the zero-padded image."""
    x = np.random.default_rng(0).random((2, 3, 5, 6))
    p, offsets = 2, [(0, 4), (3, 1)]
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dy = np.array([i - p for i, _ in offsets])
    dx = np.array([j - p for _, j in offsets])
    out = shift(x, dy, dx)
    for n, (i, j) in enumerate(offsets):
        np.testing.assert_array_equal(out[n], padded[n, :, i : i + 5, j : j + 6])


def test_flip_mirrors_only_the_chosen_images() -> None:
    x = np.concatenate([IMAGE, IMAGE + 10])
    out = flip(x, np.array([True, False]))
    assert out[0, 0].tolist() == [[3, 2, 1], [6, 5, 4], [9, 8, 7]]
    assert out[1, 0].tolist() == (IMAGE[0, 0] + 10).tolist()
    assert x[0, 0, 0, 0] == 1  # the input is not changed


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_by_a_right_angle_is_rot90(interpolation: str) -> None:
    x = np.random.default_rng(1).random((2, 2, 5, 5))
    out = rotate(x, np.array([90.0, -90.0]), interpolation)
    # Counter-clockwise as displayed: np.rot90 over (H, W).
    np.testing.assert_allclose(out[0], np.rot90(x[0], 1, axes=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(out[1], np.rot90(x[1], -1, axes=(1, 2)), atol=1e-12)


def test_bilinear_rotation_against_a_hand_computed_pixel() -> None:
    """One bright pixel right of the centre of a 3 x 3 image, rotated 45 degrees: the
    output's top-right pixel samples the input at (cy - 0.707 + 0.707, ...)."""
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 2] = 1.0
    out = rotate(x, np.array([45.0]))[0, 0]
    c = np.cos(np.pi / 4)
    # Output (0, 2) is (-1, +1) from the centre; its source is (x, y) = (c * 1 - c * -1,
    # c * 1 + c * -1) = (2c, 0) from the centre: column 1 + 2c, row 1, between the
    # columns 2 and 3 (outside): weight 1 - (2c - 1) on the bright pixel.
    assert out[0, 2] == pytest.approx(1 - (2 * c - 1), abs=1e-12)
    # The centre samples itself, which is dark.
    assert out[1, 1] == 0.0
    # Nothing bright lands below the centre row.
    assert out[2].tolist() == [0.0, 0.0, 0.0]


def test_nearest_rotation_keeps_the_set_of_values() -> None:
    x = np.arange(49.0).reshape(1, 1, 7, 7)
    out = rotate(x, np.array([30.0]), "nearest")
    assert set(np.unique(out)) <= set(np.unique(x)) | {0.0}


AUGMENT = (RandomCrop(padding=2), HorizontalFlip(), RandomRotate(degrees=15.0))


def test_the_draws_are_a_function_of_seed_epoch_and_batch() -> None:
    x = np.random.default_rng(2).random((16, 1, 8, 8)).astype(np.float32)
    first = augment(x, AUGMENT, seed=3, epoch=1, batch=4)
    again = augment(x, AUGMENT, seed=3, epoch=1, batch=4)
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and first.shape == x.shape
    for other in ({"seed": 4, "epoch": 1, "batch": 4}, {"seed": 3, "epoch": 2, "batch": 4},
                  {"seed": 3, "epoch": 1, "batch": 5}):  # fmt: skip
        assert not np.array_equal(first, augment(x, AUGMENT, **other)), other
    np.testing.assert_array_equal(
        x, np.random.default_rng(2).random((16, 1, 8, 8)).astype(np.float32)
    )


def test_random_crop_shifts_each_image_by_at_most_its_padding() -> None:
    """Every output is its input shifted by (dy, dx) with |dy|, |dx| <= p, and over a
    batch every offset in [-p, p] occurs: found by matching the shifted images."""
    p = 2
    x = np.random.default_rng(3).random((200, 1, 9, 9)) + 1.0  # no zero pixels
    out = augment(x, (RandomCrop(padding=p),), seed=0, epoch=0, batch=0)
    offsets = set()
    for n in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(-p, p + 1)
            for dx in range(-p, p + 1)
            if np.array_equal(out[n], shift(x[n : n + 1], np.array([dy]), np.array([dx]))[0])
        ]
        assert len(matches) == 1, n
        offsets.add(matches[0])
    assert offsets == {(dy, dx) for dy in range(-p, p + 1) for dx in range(-p, p + 1)}
    # random_shift(p) draws the same offsets.
    np.testing.assert_array_equal(
        augment(x, (RandomShift(pixels=p),), seed=0, epoch=0, batch=0), out
    )


def test_horizontal_flip_probability() -> None:
    x = np.random.default_rng(4).random((400, 1, 4, 4))
    never = augment(x, (HorizontalFlip(p=0.0),), seed=0, epoch=0, batch=0)
    always = augment(x, (HorizontalFlip(p=1.0),), seed=0, epoch=0, batch=0)
    np.testing.assert_array_equal(never, x)
    np.testing.assert_array_equal(always, x[..., ::-1])
    half = augment(x, (HorizontalFlip(),), seed=0, epoch=0, batch=0)
    flipped = sum(not np.array_equal(half[n], x[n]) for n in range(len(x)))
    assert 150 < flipped < 250


def test_no_augmentation_returns_the_batch_itself() -> None:
    assert augment(IMAGE, (), seed=0, epoch=0, batch=0) is IMAGE


@pytest.mark.parametrize(
    ("x", "found"),
    [
        (np.zeros((4, 64)), "float64 [4, 64]"),
        (np.zeros((4, 20, 3)), "float64 [4, 20, 3]"),
        (np.zeros((4, 1, 8, 8), dtype=np.int64), "int64 [4, 1, 8, 8]"),
        ({"image": np.zeros((4, 1, 8, 8))}, "inputs by name"),
    ],
)
def test_a_batch_that_is_not_images_is_refused(x: object, found: str) -> None:
    with pytest.raises(NetspecError) as raised:
        augment(x, (HorizontalFlip(),), seed=0, epoch=0, batch=0)  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"augment needs batches of images [N, C, H, W] of floats, found {found}: "
        "drop augment from the data source"
    )
