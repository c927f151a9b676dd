"""`synthforge analyse`: every face of every photo, a picture and a JSON record per photo."""

from __future__ import annotations

import sys
from pathlib import Path

from .arguments import AnalyseArguments
from .common import description, model_source, resolve_device, silence_progress_bars
from .parser import CommandLine

RESULT_MARK = (
    "synthforge-analyse"  # in each result's JSON and PNG: what tells our results from the user's files
)


def analyse_main(argv: list[str] | None = None) -> int:
    """`synthforge analyse`: every face in every photo (detected, cropped as the training data framed
    faces): a picture (landmarks, parsing, depth side by side) and a JSON per photo. A photo that cannot
    be analysed is reported and skipped; the command then ends with status 1.

    Runs `synthforge_hf.analysis.PhotoAnalyser` on each photo and writes ``OUT/STEM.png`` and
    ``OUT/STEM.json`` (boxes, scores, 68 points per face, class pixel counts). Two photos with the same
    file name are refused; a result file that is one of the photos, or a file there that an earlier run
    did not write, is refused for that photo.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status: 0, or 1 when a photo was skipped.

    Example:

    ```bash
    synthforge analyse group.jpg portrait.png --model spaces_app/model --out outputs/analysis
    ```
    """
    parser = CommandLine("synthforge analyse", description(analyse_main), AnalyseArguments)
    (args,) = parser.parse(argv)
    stems = [photo.stem for photo in args.photos]
    if len(set(stems)) < len(stems):
        parser.error("two photos share a file name; their results would overwrite each other")
    model = model_source(args.model, "--model")
    device = resolve_device(args.device)
    if args.no_progress:
        silence_progress_bars()

    from tqdm.auto import tqdm

    from ..analysis import PhotoAnalyser

    analyser = PhotoAnalyser.from_pretrained(model)
    analyser.model.to(device)
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = {photo.resolve() for photo in args.photos}
    faces, skipped = 0, []
    for path in tqdm(args.photos, desc="analyse", disable=args.no_progress):
        try:
            faces += _analyse_photo(analyser, path, args.out, inputs)
        except ValueError as error:  # an unreadable photo, one too large, or a result that would overwrite
            skipped.append(path)
            tqdm.write(f"synthforge analyse: {error}; skipped", file=sys.stderr)
    done = len(args.photos) - len(skipped)
    print(f"{faces} faces in {done} photos; wrote {args.out}")
    if skipped:
        print(
            f"synthforge analyse: {len(skipped)} of {len(args.photos)} photos skipped (see above)",
            file=sys.stderr,
        )
        return 1
    return 0


def _analyse_photo(analyser, path: Path, out: Path, inputs: set[Path]) -> int:
    """Analyse one photo and write ``OUT/STEM.json`` and ``OUT/STEM.png``; the number of faces. A result
    file that is one of the photos, or a file there that an earlier run did not write, is refused."""
    import io
    import json

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from ..io.images import open_photo
    from ..io.safe_write import atomic_write_bytes

    targets = out / f"{path.stem}.json", out / f"{path.stem}.png"
    for target in targets:
        if target.resolve() in inputs:
            raise ValueError(f"{target}: the result would overwrite the photo itself; use another --out")
        if target.exists() and not _is_our_result(target):
            raise ValueError(f"{target} exists and is not a result of synthforge analyse; use another --out")
    photo = open_photo(path)
    result = analyser(photo)
    record = {"photo": str(path), "written_by": RESULT_MARK, **result.to_json()}
    png = io.BytesIO()
    info = PngInfo()
    info.add_text("Software", RESULT_MARK)
    Image.fromarray(result.picture(photo)).save(png, format="PNG", pnginfo=info)
    atomic_write_bytes(targets[0], json.dumps(record, indent=1).encode())
    atomic_write_bytes(targets[1], png.getvalue())
    return len(result.faces)


def _is_our_result(path: Path) -> bool:
    """Whether ``path`` is a result an earlier `synthforge analyse` wrote (its mark is in it)."""
    import json

    from PIL import Image

    try:
        if path.suffix == ".json":
            return json.loads(path.read_text()).get("written_by") == RESULT_MARK
        with Image.open(path) as image:
            return image.text.get("Software") == RESULT_MARK
    except (OSError, ValueError, AttributeError):
        return False
