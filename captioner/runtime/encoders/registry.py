"""The encoders' names (the runtime reads features of these; training/encoders builds them)."""

from captioner.settings import DEFAULT_ENCODER  # noqa: F401 - the encoders' default, from the one source

ENCODER_NAMES = (
    "efficientnet-lite2",
    "efficientnet-lite0",
    "inception-v3",
    "xception",
    "keras-inception-v3",
    "densenet201",
)
