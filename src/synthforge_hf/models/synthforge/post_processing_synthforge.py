"""Mapping the SB's outputs back into the images they came from: the ``post_process_*`` methods of
`SynthForgeImageProcessor`, through the affines `preprocess` returns or the padding of whole images.

Self-contained (nothing from synthforge_hf): `save_pretrained` copies it into model folders with the
image processor.
"""

from __future__ import annotations

import numpy as np
import torch

from .crop_geometry import ImageWindow, warp_to_window


class SynthForgePostProcessingMixin:
    """The ``post_process_*`` methods of `SynthForgeImageProcessor` (which holds ``size`` and
    ``do_pad``)."""

    def _to_image_affines(self, count, target_sizes, paddings, affines, input_size) -> torch.Tensor | None:
        """(count,2,3) float64 affines from model-input pixels (``input_size`` (height, width)) to image
        pixels: ``affines`` as given, else from ``target_sizes`` and ``paddings`` (default: the centred
        padding `preprocess` gives an image of that size, or with the processor's ``do_pad`` False the
        whole image stretched); None when neither is given."""
        if affines is not None:
            affines = torch.as_tensor(np.asarray(affines, dtype=np.float64))
            if affines.shape != (count, 2, 3):
                raise ValueError(f"affines must have shape ({count}, 2, 3), got {tuple(affines.shape)}")
            return affines
        if target_sizes is None:
            return None
        sizes = _checked_sizes(target_sizes, count)
        extent = sizes.max(dim=1, keepdim=True).values.expand(-1, 2) if self.do_pad else sizes
        if paddings is None:
            pads = (extent - sizes) // 2
        else:
            pads = torch.as_tensor(np.asarray(paddings, dtype=np.int64))
            if pads.shape != (count, 2):
                raise ValueError(f"paddings must have shape ({count}, 2), got {tuple(pads.shape)}")
        result = torch.zeros(count, 2, 3, dtype=torch.float64)
        result[:, 0, 0] = extent[:, 1] / input_size[1]
        result[:, 1, 1] = extent[:, 0] / input_size[0]
        result[:, :, 2] = -pads.flip(-1).double()
        return result

    def post_process_landmarks(
        self, outputs, target_sizes=None, paddings=None, affines=None
    ) -> list[torch.Tensor]:
        """Landmarks of each row in image pixels (centres at i + 0.5).

        Through ``affines`` from `preprocess`, or through the padding of images of ``target_sizes``
        (``paddings`` or the centred default; the stretch when the processor's ``do_pad`` is False; model
        inputs of the processor's ``size``); unmapped if neither is given.

        Args:
            outputs (`SynthForgeFaceAnalysisOutput`):
                The model's outputs (any object with ``landmarks`` (B,K,2) in model-input pixels).
            target_sizes (`np.ndarray` or `torch.Tensor` of shape `(B, 2)`, *optional*):
                The (height, width) of each row's image (``original_sizes`` from `preprocess`).
            paddings (`np.ndarray` or `torch.Tensor` of shape `(B, 2)`, *optional*):
                The (top, left) padding of each row (``paddings`` from `preprocess`; default: the centred
                padding `preprocess` gives an image of that size).
            affines (`np.ndarray` or `torch.Tensor` of shape `(B, 2, 3)`, *optional*):
                The affines from model-input pixels to image pixels (``affines`` from `preprocess`), the
                way back for rows cropped from face boxes; they take precedence over the padding.

        Returns:
            `list[torch.Tensor]`: one (K,2) tensor per row, in its image's pixels.

        Example:

        ```python
        >>> import numpy as np
        >>> import torch
        >>> from synthforge_hf.models.synthforge import SynthForgeFaceAnalysisOutput, SynthForgeImageProcessor
        >>> processor = SynthForgeImageProcessor(size=32)
        >>> inputs = processor(np.zeros((40, 60, 3), np.uint8))  # padded to a centred 60 x 60 square
        >>> centre = SynthForgeFaceAnalysisOutput(landmarks=torch.tensor([[[16.0, 16.0]]]))  # of the input
        >>> processor.post_process_landmarks(centre, inputs["original_sizes"], inputs["paddings"])
        [tensor([[30., 20.]])]
        >>> processor.post_process_landmarks(centre, affines=inputs["affines"])  # the same map
        [tensor([[30., 20.]])]

        ```
        """
        points = outputs.landmarks
        input_size = (self.size["height"], self.size["width"])
        transforms = self._to_image_affines(len(points), target_sizes, paddings, affines, input_size)
        if transforms is None:
            return list(points)
        return [
            (p.double() @ a[:, :2].T.to(p.device) + a[:, 2].to(p.device)).to(p.dtype)
            for p, a in zip(points, transforms, strict=True)
        ]

    def _windows(self, maps, target_sizes, paddings, affines, reduce) -> list[ImageWindow] | None:
        """Per row, ``reduce`` of its (C,h,w) model-input maps mapped onto the window of its image that its
        crop covers (see `crop_geometry.warp_to_window`); None when neither sizes nor affines are given."""
        if target_sizes is None:
            if affines is not None:
                raise ValueError(
                    "mapping through affines needs target_sizes: the (height, width) of each image"
                )
            return None
        sizes = _checked_sizes(target_sizes, len(maps)).tolist()
        transforms = self._to_image_affines(len(maps), target_sizes, paddings, affines, maps.shape[-2:])
        return [warp_to_window(m, a, s, reduce) for m, a, s in zip(maps, transforms, sizes, strict=True)]

    def post_process_semantic_segmentation(
        self, outputs, target_sizes=None, paddings=None, affines=None
    ) -> list[torch.Tensor]:
        """Class-id maps, one per row, from the logits resampled before the argmax.

        In the image of ``target_sizes`` (height, width) through ``affines`` (class 0, background,
        outside a face's crop) or through the padding (``paddings`` or the centred default, or the
        stretch when ``do_pad`` is False, as transformers' image-segmentation pipeline needs); at the
        model's resolution when ``target_sizes`` is None. ``affines`` need ``target_sizes``.

        Args:
            outputs (`SynthForgeFaceAnalysisOutput`):
                The model's outputs (any object with ``logits`` (B,C,h,w)).
            target_sizes (`np.ndarray` or `torch.Tensor` of shape `(B, 2)`, *optional*):
                As in `post_process_landmarks`: each row's image size.
            paddings (`np.ndarray` or `torch.Tensor` of shape `(B, 2)`, *optional*):
                As in `post_process_landmarks`: each row's padding.
            affines (`np.ndarray` or `torch.Tensor` of shape `(B, 2, 3)`, *optional*):
                As in `post_process_landmarks`: each row's map to its image.

        Returns:
            `list[torch.Tensor]`: one (H,W) int64 class-id map per row.

        Example:

        ```python
        >>> import torch
        >>> from PIL import Image
        >>> from synthforge_hf.models.synthforge import SynthForgeFaceAnalysisOutput, SynthForgeImageProcessor
        >>> logits = torch.zeros(1, 20, 32, 32)
        >>> logits[:, 3] = 1.0  # class 3 everywhere
        >>> outputs = SynthForgeFaceAnalysisOutput(logits=logits)
        >>> processor = SynthForgeImageProcessor(size=32)
        >>> inputs = processor(Image.new("RGB", (60, 40)))
        >>> (parsing,) = processor.post_process_semantic_segmentation(outputs, inputs["original_sizes"])
        >>> parsing.shape, parsing.dtype, parsing.unique().tolist()
        (torch.Size([40, 60]), torch.int64, [3])
        >>> processor.post_process_semantic_segmentation(outputs)[0].shape  # the model's resolution
        torch.Size([32, 32])

        ```
        """
        logits = outputs.logits
        windows = self._windows(logits, target_sizes, paddings, affines, _class_ids)
        if windows is None:
            return list(logits.argmax(dim=1))
        sizes = _checked_sizes(target_sizes, len(logits)).tolist()
        return [
            window.paste(logits.new_zeros(size, dtype=torch.long))
            for window, size in zip(windows, sizes, strict=True)
        ]

    def post_process_depth_estimation(
        self, outputs, target_sizes=None, paddings=None, affines=None
    ) -> list[dict[str, torch.Tensor]]:
        """Depth maps, one per row, as the dicts of transformers' depth-estimation pipeline.

        ``outputs.depth`` mapped as in `post_process_semantic_segmentation` (0, no depth, outside a
        face's crop); at the model's resolution when ``target_sizes`` is None.

        Args:
            outputs (`SynthForgeFaceAnalysisOutput`):
                The model's outputs (any object with ``depth`` (B,h,w)).
            target_sizes, paddings, affines (*optional*):
                Each row's image size, padding and map to its image, as in
                `post_process_semantic_segmentation`.

        Returns:
            `list[dict[str, torch.Tensor]]`: ``{"predicted_depth": (H,W)}`` per row, in the units of the
            model's depth (metres for the SB).

        Example:

        ```python
        >>> import numpy as np
        >>> import torch
        >>> from synthforge_hf.models.synthforge import SynthForgeFaceAnalysisOutput, SynthForgeImageProcessor
        >>> outputs = SynthForgeFaceAnalysisOutput(depth=torch.full((1, 32, 32), 0.5))  # 0.5 m everywhere
        >>> processor = SynthForgeImageProcessor(size=32)
        >>> faces = processor(np.zeros((40, 60, 3), np.uint8), boxes=[[(10, 5, 30, 25)]])
        >>> (depth,) = processor.post_process_depth_estimation(
        ...     outputs, faces["original_sizes"], affines=faces["affines"]
        ... )
        >>> depth["predicted_depth"].shape, round(float(depth["predicted_depth"].max()), 3)
        (torch.Size([40, 60]), 0.5)
        >>> float(depth["predicted_depth"][39, 59])  # outside the face's crop
        0.0

        ```
        """
        depth = outputs.depth[:, None]
        windows = self._windows(depth, target_sizes, paddings, affines, _first_channel)
        if windows is None:
            return [{"predicted_depth": d[0]} for d in depth]
        sizes = _checked_sizes(target_sizes, len(depth)).tolist()
        return [
            {"predicted_depth": window.paste(depth.new_zeros(size))}
            for window, size in zip(windows, sizes, strict=True)
        ]

    def post_process_face_windows(self, outputs, target_sizes, affines) -> list[dict]:
        """Per row, its class ids and depth over just the window of its image that its crop covers.

        The maps of `post_process_semantic_segmentation` and `post_process_depth_estimation` without the
        rest of the image around them: what a photo with several faces needs, at a cost that follows the
        faces, not the photo (`synthforge_hf.analysis.PhotoAnalyser` pastes them into the photo).

        Args:
            outputs (`SynthForgeFaceAnalysisOutput`):
                The model's outputs (any object with ``logits`` and ``depth``).
            target_sizes (`np.ndarray` or `torch.Tensor` of shape `(B, 2)`):
                The (height, width) of each row's image (``original_sizes`` from `preprocess`).
            affines (`np.ndarray` or `torch.Tensor` of shape `(B, 2, 3)`):
                The affines from model-input pixels to image pixels (``affines`` from `preprocess`).

        Returns:
            `list[dict]`: per row ``{"window": (top, left, bottom, right), "segmentation": (h,w),
            "predicted_depth": (h,w), "covered": (h,w) bool}`` (0 where not covered); rows ``top:bottom``
            and columns ``left:right`` of the image.

        Example:

        ```python
        >>> import torch
        >>> from synthforge_hf.models.synthforge import (
        ...     SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
        ... )
        >>> model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
        >>> processor = SynthForgeImageProcessor(size=32)
        >>> photo = torch.zeros(3, 120, 160, dtype=torch.uint8)  # channels-first works too
        >>> faces = processor(photo, boxes=[[(20, 20, 60, 60), (90, 30, 140, 80)]], return_tensors="pt")
        >>> with torch.no_grad():
        ...     outputs = model(faces["pixel_values"])
        >>> windows = processor.post_process_face_windows(outputs, faces["original_sizes"], faces["affines"])
        >>> top, left, bottom, right = windows[1]["window"]
        >>> len(windows), windows[1]["segmentation"].shape == (bottom - top, right - left)
        (2, True)

        ```
        """
        segmentation = self._windows(outputs.logits, target_sizes, None, affines, _class_ids)
        depth = self._windows(outputs.depth[:, None], target_sizes, None, affines, _first_channel)
        if segmentation is None:
            raise ValueError("post_process_face_windows needs the target_sizes and affines from preprocess")
        return [
            {
                "window": (labels.top, labels.left, labels.bottom, labels.right),
                "segmentation": labels.values,
                "predicted_depth": distance.values,
                "covered": labels.covered,
            }
            for labels, distance in zip(segmentation, depth, strict=True)
        ]


def _class_ids(logits: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=0)


def _first_channel(maps: torch.Tensor) -> torch.Tensor:
    return maps[0]


def _checked_sizes(target_sizes, count: int) -> torch.Tensor:
    sizes = torch.as_tensor(np.asarray(target_sizes, dtype=np.int64))
    if sizes.shape != (count, 2) or bool((sizes <= 0).any()):
        raise ValueError(f"target_sizes must be {count} positive (height, width) pairs, got {target_sizes!r}")
    return sizes
