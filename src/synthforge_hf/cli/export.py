"""`synthforge export-onnx`."""

from __future__ import annotations

from .arguments import ExportOnnxArguments
from .common import model_source, parse


def export_onnx_main(argv: list[str] | None = None) -> int:
    """`synthforge export-onnx`: an SB as an ONNX file (dynamic batch axis), its processor's configuration
    beside it, for onnxruntime and transformers.js.

    Runs `synthforge_hf.onnx_export.export_onnx` (the `onnx` extra). The file takes ``pixel_values`` as
    the image processor makes them and gives ``landmarks``, ``logits``, ``depth`` and ``heatmaps``.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once the file is written.

    Example:

    ```bash
    synthforge export-onnx --out exported/model.onnx   # the reference model; --model DIR for another SB
    ```
    """
    (args,) = parse("export-onnx", export_onnx_main, argv, ExportOnnxArguments)
    model = model_source(args.model, "--model") if args.model else None

    from ..constants import REFERENCE_MODEL
    from ..onnx_export import export_onnx

    path = export_onnx(model or REFERENCE_MODEL, args.out, opset=args.opset)
    print(f"wrote {path} with config.json and preprocessor_config.json beside it")
    return 0
