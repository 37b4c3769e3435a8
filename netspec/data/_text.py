"""The text source: character-level language modelling from a UTF-8 file.

The vocabulary is the file's distinct characters, sorted by code point; the text becomes
their indices. A sample is a window of ``window`` indices and its targets the same window
shifted by one character (the next character at every step), so a model with an output
of [window, vocabulary] learns per-step next-character prediction with
softmax_cross_entropy. The test set is the end of the text: the last ``test`` fraction of
the windows, and no training window reaches into it.
"""

from __future__ import annotations

import os

import numpy as np

from netspec.data._locate import resolve_path
from netspec.data._raw import Raw
from netspec.data._split import holdout_count
from netspec.errors import NetspecError
from netspec.ir.train import TextData

NOT_UTF8 = (
    "data text: {path} is not UTF-8 text: byte 0x{byte:02x} at offset {offset} does not "
    "decode ({reason})\n"
    "  help: save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 in.txt > out.txt"
)
TOO_SHORT = (
    "data text: {path} has {count} characters, too few for one window of {window} and "
    "the character that follows it (at least {needed})\n"
    '  help: use a smaller window, e.g. text("{name}", {fix}), or a longer text'
)
BAD_OPTION = "data text: {option} = {value}, expected {expected}\n  help: {fix}"


def decode(data: bytes, path: object) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark dropped), or a NetspecError
    naming the first byte that does not decode and where it is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NetspecError(
            NOT_UTF8.format(
                path=path, byte=data[error.start], offset=error.start, reason=error.reason
            )
        ) from None
    return text.removeprefix("\ufeff")


def encode(text: str, vocabulary: tuple[str, ...]) -> np.ndarray:
    """The index of each character of ``text`` in the sorted ``vocabulary`` (int64)."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = np.array([ord(ch) for ch in vocabulary], dtype=np.uint32)
    return np.searchsorted(table, points).astype(np.int64)


def windows(codes: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples [N, window] starting every ``stride`` characters and their targets, each
    window shifted by one: every sample needs the character after it."""
    starts = np.arange(0, len(codes) - window, stride)
    steps = np.arange(window)
    return codes[starts[:, None] + steps], codes[starts[:, None] + steps + 1]


def load_text(
    spec: TextData, *, base_dir: str | os.PathLike[str] | None, data_dir: str | None
) -> Raw:
    """The windows of the file's characters as indices, with a test set from its end."""
    if spec.window < 1:
        raise NetspecError(
            BAD_OPTION.format(
                option="window",
                value=spec.window,
                expected="a positive number of characters",
                fix="write e.g. window = 64",
            )
        )
    if spec.stride < 0:
        raise NetspecError(
            BAD_OPTION.format(
                option="stride",
                value=spec.stride,
                expected="a positive step, or 0 (the window: windows that do not overlap)",
                fix="write e.g. stride = 1 for a window at every character",
            )
        )
    path = resolve_path(spec.path, "text", base_dir=base_dir, data_dir=data_dir)
    text = decode(path.read_bytes(), path)
    if len(text) < spec.window + 1:
        raise NetspecError(
            TOO_SHORT.format(
                path=path,
                count=len(text),
                window=spec.window,
                needed=spec.window + 1,
                name=spec.path,
                fix=max(1, len(text) - 1),
            )
        )
    vocabulary = tuple(sorted(set(text)))
    x, y = windows(encode(text, vocabulary), spec.window, spec.stride or spec.window)
    held = holdout_count(spec.test, len(x), source="text", option="test") if spec.test else 0
    x_test = y_test = None
    if held:
        # The test windows are the text's end; a training window overlapping them (with a
        # stride below the window) is dropped, so that no test character is trained on.
        stride = spec.stride or spec.window
        first = len(x) - held
        keep = (np.arange(first) * stride + spec.window) <= first * stride
        x_test, y_test = x[first:], y[first:]
        x, y = x[:first][keep], y[:first][keep]
    return Raw(
        x=x,
        y=y,
        kind="steps",
        x_test=x_test,
        y_test=y_test,
        num_classes=len(vocabulary),
        feature_hint=f"text windows of {spec.window} characters",
        vocabulary=vocabulary,
        indices=True,
    )
