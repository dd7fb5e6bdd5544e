"""Training: teacher-forced LSTM decoder training with early stopping, checkpoints and resume."""

from captioner.training.config import TrainConfig
from captioner.training.trainer import train

__all__ = ["TrainConfig", "train"]
