"""The encoders' names (the runtime reads features of these; training/encoders builds them)."""

ENCODER_NAMES = (
    "efficientnet-lite2",
    "efficientnet-lite0",
    "inception-v3",
    "xception",
    "keras-inception-v3",
    "densenet201",
)
