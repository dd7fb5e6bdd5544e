"""Training: teacher-forced LSTM decoder training with early stopping, checkpoints and resume.

`train` is imported on first use (PEP 562), so the configs in `captioner.training.config` need no torch.
"""

from captioner.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def __getattr__(name: str):
    if name == "train":
        from captioner.training.trainer import train

        return train
    raise AttributeError(f"module 'captioner.training' has no attribute {name!r}")
