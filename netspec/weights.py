"""Weight files: safetensors in the canonical (PyTorch) layout, written atomically.

Keys are the checked IR's parameter and state names (``conv2d_1.weight``,
``batchnorm_1.running_mean``), so a file written by any backend loads into any other,
and into a torch.nn.Module built by netspec with ``load_state_dict``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from netspec.errors import NetspecError
from netspec.ir import CheckedModel


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never
    a partial one: write a temporary file beside it, flush it to disk, then rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
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


def load_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Load every array of a safetensors file, keyed by name."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(str(path)))
    except FileNotFoundError:
        raise NetspecError(f"no such weight file: {path}") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise NetspecError(f"{path} is not a readable safetensors file: {error}") from None


def check_weights(model: CheckedModel, arrays: dict[str, np.ndarray], *, source: str = "") -> None:
    """Raise a NetspecError naming every missing, unexpected or misshapen array."""
    expected = {p.name: p.shape for p in model.params}
    expected.update({s.name: s.shape for s in model.state})
    problems: list[str] = []
    missing = [name for name in expected if name not in arrays]
    unexpected = [name for name in arrays if name not in expected]
    if missing:
        problems.append("missing: " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        problems.append(
            "unexpected: " + ", ".join(unexpected[:8]) + (" ..." if len(unexpected) > 8 else "")
        )
    for name, shape in expected.items():
        if name in arrays and tuple(arrays[name].shape) != tuple(shape):
            problems.append(
                f"{name}: expected shape {tuple(shape)}, found {tuple(arrays[name].shape)}"
            )
    if problems:
        where = f" in {source}" if source else ""
        raise NetspecError(
            f"weights{where} do not fit model '{model.name}':\n  " + "\n  ".join(problems)
        )
