"""Image conversions shared by the readers of user-supplied images, and photos read from files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
MAX_PHOTO_PIXELS = 64_000_000  # a larger photo is refused from its header, before it is decoded
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")  # what a folder of photos holds
EXIF_ORIENTATION = 0x0112  # the EXIF tag of how the camera was held; 1 = upright


def photos_in(folder: Path) -> list[Path]:
    """The image files under ``folder`` (recursively, by `PHOTO_SUFFIXES`), sorted."""
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in PHOTO_SUFFIXES)


def to_rgb8(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB. 16-bit greyscale (PNG modes I;16 and I) is scaled by 1/257, so that 65535
    becomes 255 (Pillow's own conversion clips every value above 255 to white)."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def array_to_rgb8(image: np.ndarray) -> np.ndarray:
    """An (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA array as (H, W, 3) uint8 RGB.

    uint8 is taken as it is, uint16 scaled by 1/257 (as `to_rgb8` scales 16-bit files), floats must lie
    in [0, 1]; alpha is dropped. Anything else raises a ValueError that says what was expected."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        array = array[..., :3]
    elif array.ndim != 2:
        raise ValueError(
            f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"the image is empty (shape {array.shape})")
    if array.dtype == np.uint8:
        pass
    elif array.dtype == np.uint16:
        array = np.clip(np.round(array / 257.0), 0, 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError("a float image must hold finite values in [0, 1]")
        array = np.round(array * 255.0).astype(np.uint8)
    else:
        raise ValueError(f"expected a uint8, uint16 or float image, got dtype {array.dtype}")
    if array.ndim == 2 or array.shape[-1] == 1:
        array = np.repeat(array.reshape(array.shape[0], array.shape[1], 1), 3, axis=-1)
    return np.ascontiguousarray(array)


def as_rgb8(image: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image (any mode, see `to_rgb8`; upright, see `upright`) or an array (see `array_to_rgb8`) as
    (H, W, 3) uint8 RGB."""
    if isinstance(image, Image.Image):
        return np.asarray(to_rgb8(upright(image)))
    return array_to_rgb8(image)


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned and flipped as its EXIF orientation says (phones store photos sideways with a
    tag, which viewers apply); the image itself when it has no such tag."""
    if image.getexif().get(EXIF_ORIENTATION, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


def open_photo(path: str | Path, max_pixels: int = MAX_PHOTO_PIXELS) -> np.ndarray:
    """The photo file ``path`` as (H, W, 3) uint8 RGB, upright as its EXIF orientation says.

    Its size is read from the header first: a photo of more than ``max_pixels`` pixels is refused before
    any pixel is decoded. Any mode Pillow reads becomes RGB (16-bit greyscale scaled to 8 bits, alpha
    dropped; see `as_rgb8`).

    Args:
        path (`str` or `Path`):
            The photo file (any format Pillow reads).
        max_pixels (`int`, *optional*, defaults to `MAX_PHOTO_PIXELS`):
            The most pixels a photo may have.

    Returns:
        `np.ndarray` of shape `(H, W, 3)`: the photo, uint8 RGB.

    Raises:
        `ValueError`: naming the file, when it is not a readable image or has too many pixels.

    Example:

    ```python
    >>> from PIL import Image
    >>> from synthforge_hf.io.images import open_photo
    >>> Image.new("L", (60, 40), 128).save("grey.png")
    >>> photo = open_photo("grey.png")
    >>> photo.shape, photo.dtype, photo[0, 0].tolist()
    ((40, 60, 3), dtype('uint8'), [128, 128, 128])
    >>> open_photo("grey.png", max_pixels=1000)
    Traceback (most recent call last):
        ...
    ValueError: grey.png: 60x40 pixels, more than the 1,000 a photo may have (scale it down first)

    ```
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below decides
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ValueError(
                        f"{path}: {width}x{height} pixels, more than the {max_pixels:,} a photo may have "
                        "(scale it down first)"
                    )
                return as_rgb8(image)
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: {error}") from None
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        # SyntaxError: what Pillow raises for some malformed files (e.g. a broken PNG chunk)
        raise ValueError(f"{path}: not a readable image ({error})") from None
