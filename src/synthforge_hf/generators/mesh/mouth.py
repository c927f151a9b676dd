"""Teeth and tongue in an open mouth, painted into one sample's albedo from its label image (as the lids'
lashes are, `eyes`): the inner mouth's pixels just below the upper lip are the upper teeth, those just
above the lower lip the lower teeth, with dark gaps between teeth and shadow towards the corners; the
tongue lies low in the middle and the throat behind it stays dark. The labels are unchanged (teeth and
tongue are inner mouth in the label set)."""

from __future__ import annotations

import torch

from ...constants import CLASS_ID
from .eyes import shift_max
from .geometry import SamplePixels
from .maths import smoothstep

TEETH = (0.85, 0.78, 0.62)  # linear RGB
TONGUE = (0.32, 0.08, 0.07)
TEETH_ACROSS_THE_MOUTH = 12  # teeth seen from corner to corner


def paint_mouth(sample: SamplePixels, albedo: torch.Tensor) -> None:
    """Teeth and tongue into ``albedo`` (3,N) of the ``sample``'s pixels, in place (nothing when no inner
    mouth is visible)."""
    on_mouth = (sample.labels == CLASS_ID["inner_mouth"]).nonzero()[:, 0]
    if not len(on_mouth):
        return
    resolution = sample.label_image.shape[-1]
    upper_reach, lower_reach = max(1, round(resolution / 45)), max(1, round(resolution / 90))
    pixels = sample.pixels.index_select(0, on_mouth)
    rows, cols = pixels // resolution, pixels % resolution
    top = max(0, int(rows.min()) - upper_reach - 1)
    bottom = min(resolution, int(rows.max()) + lower_reach + 2)
    left, right = int(cols.min()), int(cols.max()) + 1
    crop = sample.label_image[top:bottom, left:right]
    upper_lip = (crop == CLASS_ID["upper_lip"]).float()[None, None]
    lower_lip = (crop == CLASS_ID["lower_lip"]).float()[None, None]
    # upper teeth: the upper lip within reach above; lower teeth: the lower lip within reach below
    under_upper = shift_max(upper_lip, upper_reach, downwards=False)[0, 0]
    over_lower = shift_max(lower_lip, lower_reach, downwards=True)[0, 0]
    at = (rows - top) * (right - left) + cols - left
    upper_teeth = under_upper.reshape(-1)[at]
    lower_teeth = over_lower.reshape(-1)[at] * (1 - upper_teeth)

    centre, half_width = (left + right - 1) / 2, max(1.0, (right - left) / 2)
    across = (cols.float() - centre) / half_width  # -1 .. 1, corner to corner
    phase = torch.frac((across + 1) * TEETH_ACROSS_THE_MOUTH / 2)
    gaps = 1 - 0.45 * smoothstep(0.12, 0.0, torch.minimum(phase, 1 - phase))
    teeth_light = gaps * (1 - 0.65 * across**2).clamp_min(0.15)
    teeth = (upper_teeth + 0.85 * lower_teeth).clamp(0, 1)

    mid_row = (rows.float() - float(rows.min())) / max(1.0, float(rows.max() - rows.min()))  # 0 top, 1 bottom
    tongue = smoothstep(0.45, 0.9, mid_row) * (1 - across.abs()) * (1 - teeth)
    current = albedo.index_select(1, on_mouth)
    painted = torch.lerp(current, torch.tensor(TONGUE)[:, None] * (1 - 0.3 * across.abs()), tongue[None])
    painted = torch.lerp(painted, torch.tensor(TEETH)[:, None] * teeth_light[None], teeth[None])
    albedo.index_copy_(1, on_mouth, painted)
