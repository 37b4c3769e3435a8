"""An exponential moving average of the parameters over the steps of a run.

After each step, ``ema = decay * ema + (1 - decay) * w`` for every parameter, starting
from the weights after the first step (torch.optim.swa_utils.AveragedModel with
get_ema_multi_avg_fn). The average lives on the host, in the run's dtype: after every
step the loop reads the parameters back (one device-to-host copy per step) and updates
it in place. Running statistics (batchnorm) are not averaged: the averaged model uses
the trained model's.
"""

from __future__ import annotations

import numpy as np


class WeightAverage:
    """The running average of a run's parameters (see the module docstring)."""

    def __init__(self, decay: float, arrays: dict[str, np.ndarray] | None = None) -> None:
        self.decay = decay
        # None until the first step; a resumed run starts from its checkpoint's average.
        self.arrays = {name: np.array(a) for name, a in arrays.items()} if arrays else None

    def update(self, params: dict[str, np.ndarray]) -> None:
        """Fold in the parameters after one step."""
        if self.arrays is None:
            self.arrays = {name: np.array(value) for name, value in params.items()}
            return
        for name, value in params.items():
            # In the array's dtype: decay and 1 - decay (from float64) rounded to it.
            average = self.arrays[name]
            kind = average.dtype.type
            average *= kind(self.decay)
            average += kind(1.0 - self.decay) * value
