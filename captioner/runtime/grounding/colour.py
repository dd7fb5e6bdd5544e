"""How colourful a photo is, for the phrases only a grayscale photo supports ("a black and white
image of ..."): Hasler and Süsstrunk's (2003) colourfulness, 0 for a grayscale photo, about 3 for
sepia, a median 35 on COCO photos (docs/grounding.md)."""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 64  # measured on a thumbnail: the statistic is a global one


def colourfulness(image: Image.Image) -> float:
    """sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2) over the RGB pixels (0-255)."""
    small = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR), np.float32)  # (64, 64, 3)
    red, green, blue = small[..., 0], small[..., 1], small[..., 2]
    rg = red - green  # (64, 64)
    yb = 0.5 * (red + green) - blue  # (64, 64)
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
