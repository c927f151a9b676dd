"""The `synthforge` command line: ``synthforge COMMAND [options]``.

Each command lives in a module of this package that imports what it needs only once its options are
read, so ``--help`` and usage errors answer at once. Errors a user can fix (a missing or malformed file,
a bad value) end the command with one line naming the file or option; ``SYNTHFORGE_TRACEBACK=1`` shows
the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

COMMANDS = {
    "generate": ("synthforge_hf.cli.generation", "generate_main"),
    "make-dataset": ("synthforge_hf.cli.generation", "make_dataset_main"),
    "import-official": ("synthforge_hf.cli.generation", "import_official_main"),
    "convert-next3d": ("synthforge_hf.cli.generation", "convert_next3d_main"),
    "train-sb": ("synthforge_hf.cli.training", "train_sb_main"),
    "train-lf": ("synthforge_hf.cli.training", "train_lf_main"),
    "evaluate": ("synthforge_hf.cli.training", "evaluate_main"),
    "analyse": ("synthforge_hf.cli.analyse", "analyse_main"),
    "export-onnx": ("synthforge_hf.cli.export", "export_onnx_main"),
    "error-map": ("synthforge_hf.cli.error_map", "error_map_main"),
    "push-dataset": ("synthforge_hf.cli.hub", "push_dataset_main"),
    "push": ("synthforge_hf.cli.hub", "push_main"),
    "model-card": ("synthforge_hf.cli.hub", "model_card_main"),
}
TRACEBACK_VARIABLE = "SYNTHFORGE_TRACEBACK"
USAGE = (
    "usage: synthforge COMMAND [options]\ncommands: {names}\n"
    "run 'synthforge COMMAND --help' for a command's options, 'synthforge --version' for the version"
)


def _one_line(err: BaseException) -> str:
    """The error's message on one line (the project's errors name the file or option they are about;
    library errors, e.g. from from_pretrained, mostly name the folder too)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def _explains_itself(err: BaseException) -> bool:
    """Whether ``err`` is one of the project's errors, which say what to fix (no traceback hint)."""
    from ..errors import AssetError, FolderError

    mine: tuple[type, ...] = (AssetError, FolderError)
    checked_loading = sys.modules.get("synthforge_hf.models.synthforge.checked_loading")
    if checked_loading is not None:  # only a model loaded through it can raise its error
        mine += (checked_loading.DamagedCheckpointError,)
    return isinstance(err, mine)


def main(argv: list[str] | None = None) -> int:
    """The ``synthforge`` command: run ``synthforge COMMAND [options]``.

    ``--version`` prints the version; no command, an unknown one or ``--help`` prints the usage (status 2
    for the first two). An error a user can fix (a missing, unreadable or wrong file, folder or value)
    ends the command with one line naming it (`SystemExit`); ``SYNTHFORGE_TRACEBACK=1`` raises it with
    its traceback instead.

    Args:
        argv (`list[str]`, *optional*):
            The arguments, command first (None: ``sys.argv[1:]``).

    Returns:
        `int`: the exit status of the command.

    Example:

    ```bash
    synthforge --version
    synthforge generate --num-samples 16 --out outputs/demo
    python -m synthforge_hf.cli make-dataset --help
    ```
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        from importlib.metadata import version

        print(f"synthforge-hf {version('synthforge-hf')}")
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(USAGE.format(names=", ".join(sorted(COMMANDS))))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    # OpenMP threads that wait passively leave the cores to the PNG encoder thread of make-dataset.
    # Takes effect before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ..errors import AssetError

    module, function = COMMANDS[argv[0]]
    try:
        return getattr(importlib.import_module(module), function)(argv[1:])
    except (AssetError, OSError, ValueError) as err:  # a missing, unreadable or wrong file, folder or value
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        hint = "" if _explains_itself(err) else f" ({TRACEBACK_VARIABLE}=1 shows where)"
        raise SystemExit(f"synthforge {argv[0]}: {_one_line(err)}{hint}") from None
