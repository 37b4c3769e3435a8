"""The shared training loop: schedules, evaluation, checkpoints, the run directory."""

from netspec.training.evaluate import Metrics, evaluate
from netspec.training.loop import fit
from netspec.training.results import TrainingDiverged, TrainingInterrupted, TrainResult
from netspec.training.schedule import learning_rate

__all__ = [
    "Metrics",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "evaluate",
    "fit",
    "learning_rate",
]
