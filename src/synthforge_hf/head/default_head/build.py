"""`build_default_head`: the default head's sculpt, blendshapes and rig as a `ParametricHeadModel`."""

from __future__ import annotations

import numpy as np
import torch

from ..landmarks import landmarks_at_vertices
from ..model import ParametricHeadModel
from .blendshapes import displacement_fields
from .rig import landmark_vertices, skeleton, vertex_labels
from .sculpt import build_topology, sculpt_neutral


def build_default_head() -> ParametricHeadModel:
    """Build the embedded default head (deterministic; about a second on one core)."""
    topo = build_topology()
    neutral = sculpt_neutral(topo)
    identity, expression = displacement_fields(neutral, topo)
    labels = vertex_labels(neutral, topo)
    regressor, weights = skeleton(neutral, topo)
    landmark_face, landmark_bary = landmarks_at_vertices(topo.faces, landmark_vertices(neutral, topo))
    head = ParametricHeadModel(
        num_vertices=len(neutral.vertices),
        num_faces=len(topo.faces),
        num_shape=len(identity),
        num_expression=len(expression),
        name="default",
        watertight=True,
        shape_names=tuple(identity),
        expression_names=tuple(expression),
    )
    f32 = torch.float32
    head.v_template.copy_(torch.tensor(neutral.vertices, dtype=f32))
    head.shapedirs.copy_(torch.tensor(np.stack(list(identity.values()), axis=-1), dtype=f32))
    head.exprdirs.copy_(torch.tensor(np.stack(list(expression.values()), axis=-1), dtype=f32))
    head.joint_regressor.copy_(torch.tensor(regressor, dtype=f32))
    head.lbs_weights.copy_(torch.tensor(weights, dtype=f32))
    head.faces.copy_(torch.tensor(topo.faces))
    head.landmark_face_idx.copy_(torch.tensor(landmark_face))
    head.landmark_bary.copy_(torch.tensor(landmark_bary, dtype=f32))
    head.vertex_labels.copy_(torch.tensor(labels))
    return head
