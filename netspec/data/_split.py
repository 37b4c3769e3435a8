"""Seeded splits: fractions to counts, random or stratified hold-outs, streams per use."""

from __future__ import annotations

import math

import numpy as np

from netspec.errors import NetspecError

# Separate random streams per use, so that changing e.g. the validation fraction never
# changes the generated data or the test split.
GENERATE, TEST_SPLIT, VALIDATION_SPLIT, FOLDS = 1, 2, 3, 4
_DATA_STREAM = 0x6E657473  # "nets": keeps data streams apart from batch-order streams


def rng_for(seed: int, purpose: int) -> np.random.Generator:
    """The generator for one use of the train section's seed."""
    return np.random.Generator(np.random.PCG64([seed, _DATA_STREAM, purpose]))


BAD_FRACTION = (
    "data {source}: {option} = {value} is not a fraction in [0, 1)\n"
    "  help: write e.g. {option} = 0.1 to hold out 10% of the{pool} samples, or "
    "{option} = 0 for none"
)

EMPTY_HOLDOUT = (
    "data {source}: {option} = {value} of {n} samples{where} is {count} samples, so the "
    "{empty} split would be empty\n"
    "  expected: at least 1 sample in every split\n"
    "  help: {fix}"
)


TOO_FEW_TO_SPLIT = (
    "data {source}: too few samples to split: {option} = {value} needs at least 2 "
    "samples (1 held out, 1 kept), but there is 1 sample{where}\n"
    "  help: use more samples, or {option} = 0 for no {option} split"
)


def holdout_count(
    fraction: float, n: int, *, source: str, option: str, pool: str = "training"
) -> int:
    """How many of ``n`` samples ``fraction`` holds out of the ``pool`` split.

    round(fraction * n), half up.

    Zero fraction -> 0. A positive fraction that rounds to 0 samples, or one that leaves
    nothing in the pool, is an error.
    """
    if math.isnan(fraction) or not (0.0 <= fraction < 1.0):
        raise NetspecError(
            BAD_FRACTION.format(
                source=source,
                option=option,
                value=fraction,
                pool=" training" if option == "validation" else "",
            )
        )
    if fraction == 0.0:
        return 0
    # round(, 6) removes float noise first: 0.8333 * 120 = 99.996 -> 100.
    count = math.floor(round(fraction * n, 6) + 0.5)
    if 0 < count < n:
        return count
    where = " in the training split" if option == "validation" else ""
    if n == 1:
        # No fraction in (0, 1) splits one sample; "use test >= 1/1" would be no help.
        raise NetspecError(
            TOO_FEW_TO_SPLIT.format(source=source, option=option, value=fraction, where=where)
        )
    if n == 0:
        empty, fix = pool, "the source has no samples; check the data"
    elif count == 0:
        empty = option
        fix = f"use {option} >= 1/{n} = {math.ceil(1e4 / n) / 1e4:g}, or {option} = 0 for none"
    else:
        empty, fix = pool, f"use a smaller {option}, or more samples"
    raise NetspecError(
        EMPTY_HOLDOUT.format(
            source=source,
            option=option,
            value=fraction,
            n=n,
            count=count,
            empty=empty,
            fix=fix,
            where=where,
        )
    )


def holdout(
    n: int, count: int, rng: np.random.Generator, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held), each sorted, with ``count`` held out of ``n``.

    With ``labels`` the hold-out is stratified: each class gives its share
    ``count * n_c / n``, rounded by largest remainder (ties to the lower class) so that
    the shares add up to ``count``.
    """
    if labels is None:
        held = rng.permutation(n)[:count]
    else:
        classes, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        share = sizes * (count / n)
        take = np.floor(share).astype(np.int64)
        short = count - int(take.sum())
        if short > 0:
            order = np.argsort(-(share - take), kind="stable")
            take[order[:short]] += 1
        parts = []
        for c in range(len(classes)):
            members = np.flatnonzero(inverse == c)
            parts.append(members[rng.permutation(members.size)[: take[c]]])
        held = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def fold_of(n: int, folds: int, rng: np.random.Generator, labels: np.ndarray | None) -> np.ndarray:
    """Which of ``folds`` folds each of ``n`` samples is held out in (an int64 per sample).

    The samples are put in a seeded random order and dealt out in turn, fold 0, 1, ...,
    so that fold sizes differ by at most one. With ``labels`` (classification) the order
    is by class first (random within a class), so that each class is spread over the
    folds as evenly as it can be: the folds are stratified like the validation split.
    """
    order = rng.permutation(n)
    if labels is not None:
        flat = labels.reshape(len(labels), -1)[:, 0] if labels.ndim > 1 else labels
        order = order[np.argsort(flat[order], kind="stable")]
    assigned = np.empty(n, dtype=np.int64)
    assigned[order] = np.arange(n) % folds
    return assigned


def check_fold(fold: object) -> tuple[int, int]:
    """``fold`` as ``(k, K)`` with 2 <= K and 1 <= k <= K, or a NetspecError saying so."""
    ok = (
        isinstance(fold, tuple)
        and len(fold) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in fold)
    )
    if not ok or not (fold[1] >= 2 and 1 <= fold[0] <= fold[1]):  # type: ignore[index]
        raise NetspecError(
            f"fold must be (k, K), fold k of K folds with K >= 2 and 1 <= k <= K, found {fold!r}"
        )
    return fold  # type: ignore[return-value]


Pair = tuple[np.ndarray, np.ndarray]


def fold_split(
    x: np.ndarray,
    y: np.ndarray,
    fold: tuple[int, int],
    seed: int,
    stratify: bool,
    source: str,
    validation: float,
    notes: list[str],
) -> tuple[Pair, Pair]:
    """(training, validation) samples for fold k of K: fold k (of ``fold_of``, drawn from
    ``seed``) held out, the other K - 1 folds kept. A ``validation`` fraction is not
    used (a note says so)."""
    index, folds = check_fold(fold)
    if len(x) < folds:
        raise NetspecError(
            f"data {source}: {folds} folds need at least {folds} training samples, "
            f"found {len(x)}\n  help: use fewer folds, or more samples"
        )
    if validation:
        notes.append(
            f"fold {index} of {folds} is the validation split (validation = "
            f"{validation:g} is not used)"
        )
    held_in = fold_of(len(x), folds, rng_for(seed, FOLDS), y if stratify else None)
    held = held_in == index - 1
    return (x[~held], y[~held]), (x[held], y[held])
