"""How the torch backend moves a batch to its device: the array's own memory on the
CPU; through page-locked memory, asynchronously, on CUDA."""

from __future__ import annotations

import numpy as np
import pytest

import netspec

torch = pytest.importorskip("torch")

SPEC = "netspec 1\nmodel m(x: [4]) { dense(3) }\n"


def _compiled(device: str) -> object:
    program = netspec.load(SPEC)
    from netspec.backend import get_backend

    return get_backend("torch").compile(program.model(), device=device, seed=0)


def test_a_cpu_batch_is_the_array_itself() -> None:
    array = np.arange(8, dtype=np.float32).reshape(2, 4)
    tensor = _compiled("cpu")._tensor(array)  # type: ignore[attr-defined]
    assert tensor.data_ptr() == array.ctypes.data  # no copy, no pinned staging
    assert not tensor.is_pinned()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_batch_is_copied_before_the_call_returns() -> None:
    array = np.arange(8, dtype=np.float32).reshape(2, 4)
    tensor = _compiled("cuda")._tensor(array)  # type: ignore[attr-defined]
    array[:] = -1  # the asynchronous copy reads the staging copy, not the array
    torch.cuda.synchronize()
    assert tensor.device.type == "cuda"
    np.testing.assert_array_equal(tensor.cpu().numpy(), np.arange(8).reshape(2, 4))
