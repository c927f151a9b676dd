"""The embedded default head: a parametric human head built by code, so nothing is downloaded.

The neutral head is one closed grid (a sphere warped into cranium, face and neck, denser on the face)
sculpted by smooth analytic features (brow ridge, eye sockets and lids, nose, cheekbones, lips, a mouth
slot, chin), plus two eyeballs and two ears as separate closed meshes. Identity and expression
blendshapes are smooth displacement fields on the neutral vertices (scalings, bulges and shifts
localised by Gaussian weights), so a head stays valid for any coefficients in the sampler's U(-2, 2).
Labels, landmarks and skinning weights are assigned from the neutral geometry by construction.

Modules: `sculpt` (the layout, the grid and the neutral relief), `blendshapes`, `rig` (labels, landmark
vertices, joints and skinning weights) and `build` (`build_default_head`).
"""

from .blendshapes import EXPRESSION_COMPONENTS, IDENTITY_COMPONENTS
from .build import build_default_head

__all__ = ["EXPRESSION_COMPONENTS", "IDENTITY_COMPONENTS", "build_default_head"]
