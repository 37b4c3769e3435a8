"""Mixed precision for the torch train step: torch.autocast, and loss scaling for fp16.

bf16 and fp16 run the module's forward under ``torch.autocast(device, dtype)`` (matmuls,
convolutions and the other ops of autocast's lower-precision list in that format) and
cast its output back to the model's float32 before the loss, so the loss is computed in
float32 on every backend alike; the backward follows the forward's formats and leaves
float32 gradients on the float32 parameters (the master weights), which the optimizer
updates as in fp32.

fp16 also scales the loss (``torch.amp.GradScaler``, on CUDA and on the CPU alike):
float16's smallest normal number is about 6e-5, and small gradients would underflow to
zero. A step whose scaled gradients overflow is skipped by the scaler, which then halves
the scale: that is the scaler at work, not divergence, so the step's gradients are not
reported (its loss still is). The scale and its growth counter are saved with the
optimizer state (``loss_scale``, ``loss_scale_growth``), and the update count saved as
``step`` leaves out the skipped steps (which made no update), so a resumed run continues
exactly. bf16 has float32's exponent range and needs no scaling.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch

COMPUTE = {"bf16": torch.bfloat16, "fp16": torch.float16}

# The optimizer-state entries of the loss scaler (no dot: no parameter's buffer).
SCALE, GROWTH = "loss_scale", "loss_scale_growth"


class Precision:
    """The precision of one train step on ``device``: autocast and (fp16) loss scaling."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.dtype = COMPUTE.get(precision)
        self._device = device.type
        self.scaler = torch.amp.GradScaler(self._device) if precision == "fp16" else None
        # Steps the scaler skipped, counted on the device (read only when saving).
        self._skipped: torch.Tensor | None = None

    def autocast(self) -> AbstractContextManager[Any]:
        """The context of the forward: autocast to the compute format, or nothing."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self._device, dtype=self.dtype)

    def output(self, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The forward's output in the model's ``dtype``, for the loss."""
        return value if self.dtype is None else value.to(dtype)

    def backward(self, total: torch.Tensor) -> None:
        """The backward of the loss, scaled when scaling."""
        (total if self.scaler is None else self.scaler.scale(total)).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the (summed) gradients by the scale, before clipping and the update, and
        count the step as skipped when they overflowed."""
        if self.scaler is None:
            return
        self.scaler.unscale_(optimizer)
        # The scaler's own per-device flags (GradScaler.step reads the same ones).
        found = sum(f for f in self.scaler._found_inf_per_device(optimizer).values())
        self._skipped = found if self._skipped is None else self._skipped + found

    def checked(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The gradients whose finiteness the divergence report watches: none when
        scaling, since an overflow there is a step the scaler skips."""
        return grads if self.scaler is None else []

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer's update (skipped by the scaler on overflow)."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def skipped(self) -> int:
        """How many steps the scaler skipped (waits for the device)."""
        return 0 if self._skipped is None else int(self._skipped.item())

    def state(self) -> dict[str, np.ndarray]:
        """The scaler's state as optimizer-state entries (none without a scaler)."""
        if self.scaler is None:
            return {}
        saved = self.scaler.state_dict()
        return {
            SCALE: np.array(saved["scale"], dtype=np.float64),
            GROWTH: np.array(saved["_growth_tracker"], dtype=np.int64),
        }

    def load(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Restore the scaler from ``state`` and return the rest of it; a state saved
        without a scaler (a new run's first checkpoint) leaves it at its start."""
        self._skipped = None
        if self.scaler is None:
            return state
        rest = {k: v for k, v in state.items() if k not in (SCALE, GROWTH)}
        if SCALE in state:
            saved = self.scaler.state_dict()
            saved["scale"] = float(np.asarray(state[SCALE]))
            saved["_growth_tracker"] = int(np.asarray(state.get(GROWTH, 0)))
            self.scaler.load_state_dict(saved)
        return rest
