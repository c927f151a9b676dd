"""`synthforge analyse`: every face of every photo (files, folders, globs) in one table, and pictures on
request; a killed run resumes where it stopped."""

from __future__ import annotations

import glob
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from ..io.images import photos_in
from .arguments import AnalyseArguments
from .common import description, model_source, resolve_device, silence_progress_bars
from .parser import CommandLine

RESULT_MARK = (
    "synthforge-analyse"  # in each picture's JSON and PNG: what tells our results from the user's files
)
TABLE = "faces.jsonl"  # one row per face (one per photo without a face or that could not be read)


def collect_photos(paths: list[str], out: Path) -> list[Path]:
    """The photos ``paths`` name: files as given, the image files under folders (recursively, sorted) and
    the files glob patterns match (both leaving out what lies in ``out``, the results); each once, in
    that order."""
    results = out.resolve()

    def outside(found: list[Path]) -> list[Path]:
        return sorted(p for p in found if p.is_file() and results not in p.resolve().parents)

    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found += outside(photos_in(path))
        elif path.exists() or not glob.has_magic(text):
            found.append(path)  # a missing file is reported when its turn comes
        else:
            found += outside([Path(p) for p in glob.glob(text, recursive=True)])
    seen: set[Path] = set()
    photos = []
    for photo in found:
        if photo.resolve() not in seen:
            seen.add(photo.resolve())
            photos.append(photo)
    return photos


def analyse_main(argv: list[str] | None = None) -> int:
    """`synthforge analyse`: every face in every photo (detected, cropped as the training data framed
    faces), in one table for the run (OUT/faces.jsonl, and OUT/faces.parquet once every photo is done),
    with a picture per photo on request. A photo that cannot be read is listed and skipped; a killed run
    resumes without analysing a photo twice.

    Photos are files, folders (their image files, recursively) or glob patterns; the model is the
    reference model shipped with the package unless ``--model`` names another SB. Each row of the table:
    ``photo``, ``image_size``, ``faces_in_photo``, ``face_index`` (null for a photo without a face),
    ``box`` (left, top, right, bottom), ``score`` and ``landmarks_68`` in photo pixels, or ``error``.
    With ``--pictures``, ``OUT/STEM.png`` (landmarks, parsing and depth side by side) and ``OUT/STEM.json``
    per photo; a picture never overwrites a photo or a file an earlier run did not write.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status: 0, or 1 when a photo could not be analysed (each is listed).

    Example:

    ```bash
    synthforge analyse holiday/ "scans/**/*.jpg" portrait.png --out analysis --pictures
    ```
    """
    parser = CommandLine("synthforge analyse", description(analyse_main), AnalyseArguments)
    (args,) = parser.parse(argv)
    photos = collect_photos(args.photos, args.out)
    if not photos:
        parser.error(f"no photos in {' '.join(args.photos)}")
    stems = [photo.stem for photo in photos]
    if args.pictures and len(set(stems)) < len(stems):
        parser.error(
            "two photos share a file name, and so would their pictures: analyse them apart or leave out "
            "--pictures"
        )
    model = model_source(args.model, "--model") if args.model else None
    device = resolve_device(args.device)
    if args.no_progress:
        silence_progress_bars()

    import numpy as np
    from tqdm.auto import tqdm

    from ..analysis import PhotoAnalyser
    from ..analysis_table import ResultsTable
    from ..constants import REFERENCE_MODEL
    from ..io.images import open_photo
    from ..models.synthforge.face_detection import FaceDetector

    detector = FaceDetector(model="cnn") if args.detector == "cnn" else None  # else the processor's
    analyser = PhotoAnalyser.from_pretrained(
        model or REFERENCE_MODEL, batch_size=args.batch_size, detector=detector
    )
    analyser.model.to(device)
    table = ResultsTable(args.out / TABLE)
    done = table.resume()
    todo = [photo for photo in photos if str(photo) not in done]
    inputs = {photo.resolve() for photo in photos}

    def read(photo: Path) -> np.ndarray | Exception:
        try:
            if args.pictures:
                _check_picture_targets(photo, args.out, inputs)
            return open_photo(photo)
        except ValueError as error:
            return error

    pending_photos: dict[Path, np.ndarray] = {}  # kept for their pictures until their results come

    def photos_to_analyse() -> Iterator[tuple[Path, np.ndarray | Exception]]:
        for photo in todo:
            pixels = read(photo)
            if args.pictures and not isinstance(pixels, Exception):
                pending_photos[photo] = pixels
            yield photo, pixels

    faces = skipped = 0
    progress = tqdm(total=len(todo), desc="analyse", unit="photo", disable=args.no_progress)
    for photo, result in analyser.analyse_photos(photos_to_analyse(), with_maps=args.pictures):
        if isinstance(result, Exception):
            skipped += 1
            tqdm.write(f"synthforge analyse: {result}; skipped", file=sys.stderr)
            table.append_error(photo, result)
        else:
            faces += len(result.faces)
            table.append(photo, result)
            if args.pictures:
                _write_picture(photo, pending_photos.pop(photo), result, args.out)
        progress.update()
    progress.close()
    if not skipped:
        table.write_parquet()
    print(
        f"{faces} faces in {len(todo) - skipped} photos ({len(photos) - len(todo)} done before); "
        f"wrote {args.out / TABLE}"
    )
    if skipped:
        print(f"synthforge analyse: {skipped} of {len(todo)} photos skipped (see above)", file=sys.stderr)
        return 1
    return 0


def _picture_targets(photo: Path, out: Path) -> tuple[Path, Path]:
    return out / f"{photo.stem}.json", out / f"{photo.stem}.png"


def _check_picture_targets(photo: Path, out: Path, inputs: set[Path]) -> None:
    """Refuse (`ValueError`) pictures that would overwrite one of the photos, or a file there that an
    earlier run did not write."""
    for target in _picture_targets(photo, out):
        if target.resolve() in inputs:
            raise ValueError(f"{target}: the result would overwrite the photo itself; use another --out")
        if target.exists() and not _is_our_result(target):
            raise ValueError(f"{target} exists and is not a result of synthforge analyse; use another --out")


def _write_picture(photo_path: Path, photo, result, out: Path) -> None:
    """``OUT/STEM.json`` (the photo's record) and ``OUT/STEM.png`` (landmarks, parsing and depth)."""
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from ..io.safe_write import atomic_write_bytes

    record_path, picture_path = _picture_targets(photo_path, out)
    record = {"photo": str(photo_path), "written_by": RESULT_MARK, **result.to_json()}
    png = io.BytesIO()
    info = PngInfo()
    info.add_text("Software", RESULT_MARK)
    Image.fromarray(result.picture(photo)).save(png, format="PNG", pnginfo=info)
    atomic_write_bytes(record_path, json.dumps(record, indent=1).encode())
    atomic_write_bytes(picture_path, png.getvalue())


def _is_our_result(path: Path) -> bool:
    """Whether ``path`` is a result an earlier `synthforge analyse` wrote (its mark is in it)."""
    from PIL import Image

    try:
        if path.suffix == ".json":
            return json.loads(path.read_text()).get("written_by") == RESULT_MARK
        with Image.open(path) as image:
            return image.text.get("Software") == RESULT_MARK
    except (OSError, ValueError, AttributeError):
        return False
