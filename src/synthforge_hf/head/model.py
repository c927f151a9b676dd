"""`ParametricHeadModel`: one interface for FLAME, ICT-FaceKit and the embedded default head.

A head is a linear shape + expression blendshape model with an optional pose-corrective basis and
linear blend skinning over a small skeleton whose pose layout is shared by every head:
``(global, neck, jaw, left_eye, right_eye)``, 3 axis-angle values each (15 in all). Vertices are in
metres in the head frame: y up, z out of the face, x towards the subject's left.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput

from ..constants import CLASS_ID, NUM_LANDMARKS
from .landmarks import barycentric_points, dynamic_contour_rows
from .lbs import axis_angle_to_matrix, linear_blend_skinning

POSE_JOINTS = ("global", "neck", "jaw", "left_eye", "right_eye")
POSE_DIM = 3 * len(POSE_JOINTS)
NUM_CONTOUR_LANDMARKS = 17


@dataclass
class HeadOutput(BaseOutput):
    """Posed geometry. ``vertices`` (B,V,3) and ``landmarks_3d`` (B,68,3) in metres, head frame;
    ``pupils_3d`` (B,2,3), the centres of the pupils of the subject's right and left eyes (NaN for a head
    without labelled eyeballs)."""

    vertices: torch.Tensor
    landmarks_3d: torch.Tensor
    joints: torch.Tensor
    pupils_3d: torch.Tensor


class ParametricHeadModel(ModelMixin, ConfigMixin):
    """Shape, expression and pose parameters -> vertices and 68 iBUG landmarks, batched.

    Buffers hold the model data, so `save_pretrained`/`from_pretrained` round-trip it as
    safetensors. Use the loaders (`load_flame`, `load_ict_facekit`, `build_default_head`) to make one.
    Segmentation comes either from per-vertex class ids (``vertex_labels``) or from a UV map of class
    ids (``uv_label_map``, sampled at the interpolated UV of each pixel). ``watertight`` declares every
    part closed with outward faces, which lets the rasterizer skip back faces exactly.
    ``expression_bounds`` is the valid coefficient interval of models whose expressions are one-sided
    blendshape weights (ICT-FaceKit's ARKit shapes: (0, 1)); None means symmetric, PCA-like
    coefficients. ``shape_names`` and ``expression_names`` name the components where they have names.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        num_vertices: int,
        num_faces: int,
        num_shape: int,
        num_expression: int,
        joint_parents: tuple[int, ...] = (-1, 0, 1, 1, 1),
        num_pose_basis: int = 0,
        num_uvs: int = 0,
        uv_label_map_size: int = 0,
        num_contour_rows: int = 0,
        segmentation_source: str = "vertex",
        name: str = "custom",
        watertight: bool = False,
        expression_bounds: tuple[float, float] | None = None,
        shape_names: tuple[str, ...] | None = None,
        expression_names: tuple[str, ...] | None = None,
    ):
        super().__init__()
        if len(joint_parents) != len(POSE_JOINTS):
            raise ValueError(f"joint_parents must have {len(POSE_JOINTS)} entries {POSE_JOINTS}")
        if segmentation_source not in ("vertex", "uv"):
            raise ValueError("segmentation_source must be 'vertex' or 'uv'")
        if expression_bounds is not None and not expression_bounds[0] < expression_bounds[1]:
            raise ValueError(
                f"expression_bounds must be (low, high) with low < high, got {expression_bounds}"
            )
        for names, count, what in (
            (shape_names, num_shape, "shape"),
            (expression_names, num_expression, "expression"),
        ):
            if names is not None and len(names) != count:
                raise ValueError(f"{what}_names has {len(names)} names for {count} components")
        num_joints = len(POSE_JOINTS)
        f32 = torch.float32
        self.register_buffer("v_template", torch.zeros(num_vertices, 3, dtype=f32))
        self.register_buffer("shapedirs", torch.zeros(num_vertices, 3, num_shape, dtype=f32))
        self.register_buffer("exprdirs", torch.zeros(num_vertices, 3, num_expression, dtype=f32))
        self.register_buffer("posedirs", torch.zeros(num_pose_basis, num_vertices * 3, dtype=f32))
        self.register_buffer("joint_regressor", torch.zeros(num_joints, num_vertices, dtype=f32))
        self.register_buffer("lbs_weights", torch.zeros(num_vertices, num_joints, dtype=f32))
        self.register_buffer("faces", torch.zeros(num_faces, 3, dtype=torch.long))
        self.register_buffer("uvs", torch.zeros(num_uvs, 2, dtype=f32))
        self.register_buffer("uv_faces", torch.zeros(num_faces if num_uvs else 0, 3, dtype=torch.long))
        self.register_buffer("landmark_face_idx", torch.zeros(NUM_LANDMARKS, dtype=torch.long))
        self.register_buffer("landmark_bary", torch.zeros(NUM_LANDMARKS, 3, dtype=f32))
        self.register_buffer(
            "contour_face_idx", torch.zeros(num_contour_rows, NUM_CONTOUR_LANDMARKS, dtype=torch.long)
        )
        self.register_buffer(
            "contour_bary", torch.zeros(num_contour_rows, NUM_CONTOUR_LANDMARKS, 3, dtype=f32)
        )
        self.register_buffer("vertex_labels", torch.zeros(num_vertices, dtype=torch.long))
        self.register_buffer(
            "uv_label_map", torch.zeros(uv_label_map_size, uv_label_map_size, dtype=torch.uint8)
        )

    @property
    def num_shape(self) -> int:
        return self.config.num_shape

    @property
    def num_expression(self) -> int:
        return self.config.num_expression

    def _check(self, name: str, value: torch.Tensor | None, size: int, batch: int | None) -> torch.Tensor:
        if value is None:
            if batch is None:
                raise ValueError(f"cannot infer the batch size: pass `{name}`")
            return torch.zeros(batch, size, dtype=self.v_template.dtype, device=self.v_template.device)
        if value.dim() != 2 or value.shape[1] != size:
            raise ValueError(
                f"`{name}` must have shape (batch, {size}) for head model '{self.config.name}', "
                f"got {tuple(value.shape)}"
            )
        if not value.is_floating_point():
            raise TypeError(f"`{name}` must be a floating-point tensor, got {value.dtype}")
        return value.to(self.v_template)

    def forward(
        self,
        shape: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        contour_yaw: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> HeadOutput:
        """Pose the head.

        Args:
            shape: (B, num_shape) identity coefficients.
            expression: (B, num_expression) expression coefficients.
            pose: (B, 15) axis-angle rotations of (global, neck, jaw, left_eye, right_eye).
            contour_yaw: (B,) head yaw relative to the viewer in radians; picks the jaw-contour
                landmarks on the silhouette when the model has a dynamic contour table.
            batch_size: used when every parameter is omitted.
        """
        given = next((t for t in (shape, expression, pose) if t is not None), None)
        batch = given.shape[0] if given is not None else batch_size
        shape = self._check("shape", shape, self.config.num_shape, batch)
        expression = self._check("expression", expression, self.config.num_expression, batch)
        pose = self._check("pose", pose, POSE_DIM, batch)
        batch = shape.shape[0]
        if expression.shape[0] != batch or pose.shape[0] != batch:
            raise ValueError("shape, expression and pose must have the same batch size")

        rest = (
            self.v_template
            + torch.einsum("bs,vcs->bvc", shape, self.shapedirs)
            + torch.einsum("be,vce->bvc", expression, self.exprdirs)
        )
        joints = torch.einsum("jv,bvc->bjc", self.joint_regressor, rest)
        rotations = axis_angle_to_matrix(pose.reshape(batch, len(POSE_JOINTS), 3))
        if self.config.num_pose_basis:
            eye = torch.eye(3, dtype=rest.dtype, device=rest.device)
            pose_feature = (rotations[:, 1:] - eye).reshape(batch, -1)
            rest = rest + (pose_feature @ self.posedirs).reshape(batch, -1, 3)
        vertices, posed_joints = linear_blend_skinning(
            rest, rotations, joints, list(self.config.joint_parents), self.lbs_weights
        )
        landmarks = barycentric_points(vertices, self.faces, self.landmark_face_idx, self.landmark_bary)
        if self.config.num_contour_rows and contour_yaw is not None:
            rows = dynamic_contour_rows(contour_yaw.to(rest))
            contour = barycentric_points(
                vertices, self.faces, self.contour_face_idx[rows], self.contour_bary[rows]
            )
            landmarks = torch.cat([contour, landmarks[:, NUM_CONTOUR_LANDMARKS:]], dim=1)
        pupils, labelled = self.pupil_vertices()
        pupils_3d = torch.where(
            labelled[None, :, None].to(vertices.device), vertices[:, pupils.to(vertices.device)], float("nan")
        )
        return HeadOutput(vertices=vertices, landmarks_3d=landmarks, joints=posed_joints, pupils_3d=pupils_3d)

    def pupil_vertices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The vertex at the front of the subject's right and left eyeball in the template (+z, out of the
        face), where the pupil's centre is while the eye looks ahead (it turns with the eye's joint): (2,)
        indices, and (2,) whether the head's vertices label that eyeball at all (where not, the index is
        meaningless). Made with tensor operations only, so it runs on any device without a host sync."""
        eyeballs = torch.stack(
            [self.vertex_labels == CLASS_ID[side] for side in ("right_eyeball", "left_eyeball")]
        )
        depth = torch.where(eyeballs, self.v_template[:, 2], -torch.inf)
        return depth.argmax(dim=1), eyeballs.any(dim=1)

    def face_labels(self) -> torch.Tensor:
        """Class id per face (F,), by majority of its vertices' labels (ties: first corner)."""
        corner = self.vertex_labels[self.faces]
        a, b, c = corner.unbind(-1)
        return torch.where((b == c) & (a != b), b, a)
