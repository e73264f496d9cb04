"""Photos of a face in other light: the probes that test whether the recogniser is blind to brightness and contrast.

Each look maps an 8-bit grey face g to the Pillow image a user might hand in:
    as_taken        g itself
    darker          0.6 g (an under-exposed photo)
    brighter        1.4 g, clipped at 255 (over-exposed: the bright pixels saturate, so not a pure change of level)
    low_contrast    0.5 g + 64 (a flat, hazy photo)
    colour_swapped  the issue's case: g tinted warm as RGB (g, 0.6 g, 0.3 g), then its channels reversed
                    (a BGR file read as RGB); its luma is about 0.56 g
Levels are rounded to integers, as a file holds them. A network whose input is levelled per image
(images.level) sees darker, low_contrast and colour_swapped as g, up to that rounding and the JPEG's.
"""

from __future__ import annotations

import numpy as np

LOOKS = ("as_taken", "darker", "brighter", "low_contrast", "colour_swapped")


def _levels(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def look(name: str, grey: np.ndarray):
    """The Pillow image of the uint8 (H, W) face `grey` under look `name` (module docstring)."""
    from PIL import Image

    g = np.asarray(grey, dtype=np.float64)
    if name == "as_taken":
        return Image.fromarray(_levels(g))
    if name == "darker":
        return Image.fromarray(_levels(0.6 * g))
    if name == "brighter":
        return Image.fromarray(_levels(1.4 * g))
    if name == "low_contrast":
        return Image.fromarray(_levels(0.5 * g + 64))
    if name == "colour_swapped":
        return Image.fromarray(np.stack([_levels(0.3 * g), _levels(0.6 * g), _levels(g)], axis=-1))
    raise ValueError(f"look {name!r}: not one of {', '.join(LOOKS)}")


def grey_of(name: str, grey: np.ndarray) -> np.ndarray:
    """uint8 (H, W): the face under look `name` as the recogniser reads it (reading.grey_levels, no file)."""
    from experiments.faces import reading

    return reading.to_uint8(reading.grey_levels(look(name, grey)))
