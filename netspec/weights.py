"""Weight files: safetensors in the canonical (PyTorch) layout, written atomically.

Keys are the checked IR's parameter and state names (``conv2d_1.weight``,
``batchnorm_1.running_mean``), so a file written by any backend loads into any other,
and into a torch.nn.Module built by netspec with ``load_state_dict``.

Every way weights enter a model (a file, a dict given to ``netspec.compile``, a
backend's ``compile(params=...)`` or ``set_parameters``) goes through
:func:`validate_weights`, so the same bad array gives the same error everywhere.
"""

from __future__ import annotations

import difflib
import json
import math
import mmap
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np

from netspec.errors import NetspecError, ShapeError
from netspec.ir import CheckedModel

WEIGHTS_FILE = "weights.safetensors"

# The float dtypes a weight may have (cast to the model's dtype on load). Integers and
# booleans are refused: a cast would silently turn them into very different weights.
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
# safetensors dtype codes as NumPy dtypes (little-endian); BF16 is decoded by hand.
_FILE_DTYPES = {
    "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "U32": "<u4",
    "I32": "<i4", "U64": "<u8", "I64": "<i8", "F16": "<f2", "F32": "<f4", "F64": "<f8",
}  # fmt: skip

Require = Literal["all", "params", "none"]


# -- writing ------------------------------------------------------------------------------


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere the only way to read it is to set it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 less the umask. Files made
    with mkstemp (0600) take it, so that netspec's files are not private by accident."""
    return 0o666 & ~_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never
    a partial one: write a temporary file beside it, flush it to disk, then rename.

    The file gets the mode an ordinary ``open(path, "w")`` would give it: the mode of
    the file it replaces, or 0666 less the umask for a new one (mkstemp alone would
    make every file private, 0600)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = new_file_mode()
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_weights(
    path: str | os.PathLike[str],
    arrays: dict[str, np.ndarray],
    metadata: dict[str, str] | None = None,
) -> None:
    """Save named arrays as safetensors, atomically."""
    from safetensors.numpy import save

    # Not np.ascontiguousarray: it turns 0-d arrays (an optimizer's step count) into 1-d.
    contiguous = {name: np.require(value, requirements="C") for name, value in arrays.items()}
    atomic_write_bytes(path, save(contiguous, metadata=metadata))


# -- reading ------------------------------------------------------------------------------


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _contents(directory: Path) -> str:
    """What a directory holds, for a message: a few names (folders marked with /)."""
    try:
        entries = sorted(directory.iterdir(), key=lambda entry: entry.name)
    except OSError as error:
        return f"nothing readable ({error.strerror})"
    if not entries:
        return "an empty directory"
    names = [entry.name + ("/" if entry.is_dir() else "") for entry in entries[:8]]
    more = f" and {len(entries) - 8} more" if len(entries) > 8 else ""
    return ", ".join(names) + more


def resolve_weights_path(path: str | os.PathLike[str]) -> Path:
    """The weight file ``path`` names: the file itself, or ``RUN/weights.safetensors``
    for a run directory. Anything else (missing, unreadable, a FIFO, a device, a
    directory without weights) is a NetspecError saying what was expected."""
    given = Path(path)
    try:
        info = os.stat(given)
    except FileNotFoundError:
        raise NetspecError(
            f"no such weight file: {given}\n"
            f"  expected: a {WEIGHTS_FILE} file or a run directory holding one"
        ) from None
    except OSError as error:
        raise NetspecError(f"cannot read weight file {given}: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        inner = given / WEIGHTS_FILE
        if inner.exists():
            return resolve_weights_path(inner)
        checkpoint = given / "checkpoints" / "state.json"
        if checkpoint.is_file():
            latest = sorted((given / "checkpoints").glob("epoch-*.weights.safetensors"))
            hint = (
                f"it has a checkpoint (the run has not finished): continue it with "
                f"`netspec train SPEC --resume {given}`"
                + (f", or use the latest checkpoint's weights {latest[-1]}" if latest else "")
            )
        else:
            hint = "it has no checkpoint either, so it is not a netspec run directory"
        raise NetspecError(
            f"{given} is a directory that holds no {WEIGHTS_FILE}\n"
            f"  expected: a weight file, or a run directory with {WEIGHTS_FILE}\n"
            f"  found: {_contents(given)}\n"
            f"  note: {hint}"
        )
    if not stat.S_ISREG(info.st_mode):
        raise NetspecError(
            f"{given} is {_kind_of(info.st_mode)}, expected a regular {WEIGHTS_FILE} file "
            "or a run directory"
        )
    return given


def _read_regular(path: Path) -> np.ndarray:
    """The file's bytes as a read-only uint8 array over a memory map: arrays are copied
    out of it, so a large file is not held in memory twice."""
    # O_NONBLOCK: should the path have become a FIFO since it was checked, opening it
    # returns at once instead of waiting for a writer; fstat then refuses it.
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise NetspecError(f"cannot read weight file {path}: {error.strerror}") from None
    with os.fdopen(handle, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NetspecError(f"{path} is {_kind_of(info.st_mode)}, expected a regular file")
        if info.st_size == 0:
            return np.zeros(0, np.uint8)
        try:
            # The map outlives the descriptor; it is unmapped when the last view goes.
            return np.frombuffer(
                mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8
            )
        except OSError as error:
            raise NetspecError(f"cannot read weight file {path}: {error.strerror}") from None


def _parse_safetensors(data: np.ndarray, path: Path) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file, by name, in its own dtypes (bfloat16 widened to
    float32, exactly); integer and boolean arrays are kept so the checks can name them."""

    def bad(why: str) -> NetspecError:
        return NetspecError(f"{path} is not a readable safetensors file: {why}")

    if len(data) < 8:
        raise bad(f"{len(data)} bytes, too short for the header")
    size = int.from_bytes(data[:8].tobytes(), "little")
    if size > len(data) - 8:
        raise bad(f"the header claims {size} bytes, the file has {len(data) - 8} after it")
    try:
        header = json.loads(data[8 : 8 + size].tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad(f"the header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    body = data[8 + size :]
    arrays: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            code, shape = entry["dtype"], tuple(int(d) for d in entry["shape"])
            start, end = (int(v) for v in entry["data_offsets"])
        except (TypeError, KeyError, ValueError):
            raise bad(f"the entry of {name!r} is malformed") from None
        if code != "BF16" and code not in _FILE_DTYPES:
            raise bad(
                f"{name!r} has dtype {code}; expected a float dtype ({', '.join(FLOAT_DTYPES)})"
            )
        item = 2 if code == "BF16" else np.dtype(_FILE_DTYPES[code]).itemsize
        count = math.prod(shape)
        if min(shape, default=0) < 0 or not 0 <= start <= end <= len(body):
            raise bad(f"{name!r} lies outside the file")
        if end - start != count * item:
            raise bad(f"{name!r} has {end - start} bytes, its shape {shape} needs {count * item}")
        raw = body[start:end]
        if code == "BF16":
            # bfloat16 is the top half of a float32: widening is exact.
            halves = raw.view("<u2").astype(np.uint32) << 16
            arrays[name] = halves.view(np.float32).reshape(shape)
        else:
            arrays[name] = raw.view(_FILE_DTYPES[code]).reshape(shape).copy()
    return arrays


def load_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of a safetensors file (or of ``RUN/weights.safetensors`` for a run
    directory), keyed by name, each in the file's dtype (bfloat16 widened to float32);
    :func:`validate_weights` decides what a model accepts. Optimizer state in
    checkpoints holds integers too, so nothing is refused here by dtype."""
    resolved = resolve_weights_path(path)
    return _parse_safetensors(_read_regular(resolved), resolved)


# -- the one validation -------------------------------------------------------------------


def _listed(names: list[str]) -> str:
    return ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")


def _array_problem(
    name: str, value: object, shape: tuple[int, ...]
) -> tuple[str, np.ndarray | None]:
    """What is wrong with one array ("" when nothing), and the array when it is one."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as error:
        return (
            f"{name}: expected an array of shape {shape}, found {type(value).__name__} ({error})",
            None,
        )
    if array.dtype.name not in FLOAT_DTYPES:
        found = f"{type(value).__name__}" if array.dtype == object else f"dtype {array.dtype}"
        return (f"{name}: expected a float dtype ({', '.join(FLOAT_DTYPES)}), found {found}"
                "; cast it first, e.g. value.astype(np.float32)"), None  # fmt: skip
    if tuple(array.shape) != shape:
        return f"{name}: expected shape {shape}, found {tuple(array.shape)}", None
    finite = np.isfinite(array)
    if not finite.all():
        nan = int(np.isnan(array).sum())
        inf = int(array.size - finite.sum()) - nan
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        return (f"{name}: expected finite values, found {nan} NaN and {inf} inf "
                f"(the first at index {first})"), None  # fmt: skip
    return "", array


def validate_weights(
    model: CheckedModel,
    values: Mapping[str, object],
    *,
    dtype: str | np.dtype,
    source: str = "",
    require: Require = "params",
) -> dict[str, np.ndarray]:
    """``values`` checked against ``model`` and cast to ``dtype``; the one check every
    way of loading weights goes through.

    Names must be the model's parameter and state names; ``require`` says which must
    all be present ("all": parameters and state, as in a weight file; "params": every
    parameter, state may start at its fill; "none": any subset). Each array must have
    a float dtype (float16, bfloat16, float32 or float64), the IR's shape and finite
    values. Every problem is listed, by array name, in one NetspecError (a ShapeError
    when an array itself is wrong); nothing is returned half-checked.
    """
    if not isinstance(values, Mapping):
        raise NetspecError(
            f"weights must be a dict of arrays by parameter name, found {type(values).__name__}"
        )
    expected = {p.name: tuple(p.shape) for p in model.params}
    expected.update({s.name: tuple(s.shape) for s in model.state})
    problems: list[str] = []
    bad_keys = [repr(name) for name in values if not isinstance(name, str)]
    if bad_keys:
        problems.append("names must be strings, found " + ", ".join(bad_keys[:8]))
    unexpected = [name for name in values if isinstance(name, str) and name not in expected]
    if unexpected:
        close = [
            f"{name} (did you mean {match[0]}?)"
            if (match := difflib.get_close_matches(name, list(expected), n=1, cutoff=0.6))
            else name
            for name in unexpected
        ]
        problems.append("unexpected: " + _listed(close))
    wanted = {"all": list(expected), "params": [p.name for p in model.params], "none": []}
    missing = [name for name in wanted[require] if name not in values]
    if missing:
        problems.append("missing: " + _listed(missing))
    names_only = len(problems)
    checked: dict[str, np.ndarray] = {}
    target = np.dtype(dtype)
    for name, value in values.items():
        if name not in expected:
            continue
        problem, array = _array_problem(name, value, expected[name])
        if problem:
            problems.append(problem)
        elif array is not None:
            with np.errstate(over="ignore"):
                cast = np.array(array, dtype=target)
            if not np.isfinite(cast).all():
                problems.append(f"{name}: expected values that fit {target}, found some too large")
            checked[name] = cast
    if problems:
        where = f" in {source}" if source else ""
        # A wrong array is a ShapeError (and a ValueError); wrong names are not.
        error = NetspecError if len(problems) == names_only else ShapeError
        raise error(f"weights{where} do not fit model '{model.name}':\n  " + "\n  ".join(problems))
    return checked
