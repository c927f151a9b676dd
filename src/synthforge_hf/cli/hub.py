"""`synthforge push-dataset`, `push` and `model-card`."""

from __future__ import annotations

from pathlib import Path

from .arguments import ModelCardArguments, PushArguments, PushDatasetArguments
from .common import parse


def _push_line(repo_id: str, result) -> str:
    """What a push did, in one line."""
    where = f": {result.commit_url}" if result.commit_url else ""
    return f"{repo_id}: {len(result.files)} files checked in (the Hub skips unchanged ones){where}"


def push_dataset_main(argv: list[str] | None = None) -> int:
    """`synthforge push-dataset`: upload a generated dataset (shards + card) to the Hub, changes only.

    Runs `synthforge_hf.hub.publish.push_dataset`: only files whose hash changed are sent. Prints the
    repo, the files checked in and the commit's address.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once the upload is committed.

    Example:

    ```bash
    synthforge push-dataset outputs/faces me/synthforge-faces --private
    ```
    """
    (args,) = parse("push-dataset", push_dataset_main, argv, PushDatasetArguments)

    from ..hub.publish import push_dataset

    result = push_dataset(
        args.folder,
        args.repo_id,
        private=args.private or None,
        revision=args.revision,
        commit_message=args.message,
    )
    print(_push_line(args.repo_id, result))
    return 0


def push_main(argv: list[str] | None = None) -> int:
    """`synthforge push`: publish the dataset, the SB and LF models (with cards) and the Space.

    Each part is ``FOLDER:user/name`` and goes to its own repo; model cards take their ``model-index``
    from the ``--eval FOLDER=RESULT.json`` files of ``synthforge evaluate --out``. Only files whose hash
    changed are sent (token from ``--token``, ``HF_TOKEN`` or the saved login).

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once every part is committed to its repo.

    Example:

    ```bash
    synthforge push --dataset outputs/faces:me/synthforge-faces --model runs/sb:me/synthforge-sb \
        --space spaces_app:me/synthforge --eval runs/sb=eval-sb.json
    ```
    """
    (args,) = parse("push", push_main, argv, PushArguments)

    from huggingface_hub import HfApi

    from ..hub.publish import Target, publish

    eval_runs: dict[str, list[Path]] = {}
    for item in args.eval:
        folder, _, path = item.partition("=")
        eval_runs.setdefault(str(Path(folder)), []).append(Path(path))
    results = publish(
        dataset=Target.parse(args.dataset) if args.dataset else None,
        models=[Target.parse(m) for m in args.model],
        space=Target.parse(args.space) if args.space else None,
        eval_runs=eval_runs,
        private=args.private or None,
        revision=args.revision,
        commit_message=args.message,
        api=HfApi(token=args.token),
    )
    for repo_id, result in results.items():
        print(_push_line(repo_id, result))
    return 0


def model_card_main(argv: list[str] | None = None) -> int:
    """`synthforge model-card`: write a model folder's README.md, model-index from evaluation runs.

    Renders the card (`synthforge_hf.hub.model_card.render_model_card`) for the repo ``--repo-id`` names
    and writes it into the folder in one step.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once README.md is written.

    Example:

    ```bash
    synthforge model-card runs/sb --repo-id me/synthforge-sb --eval eval-sb.json
    ```
    """
    (args,) = parse("model-card", model_card_main, argv, ModelCardArguments)
    if not args.model.is_dir():
        raise ValueError(f"{args.model}: no such model folder")

    from ..hub.model_card import render_model_card
    from ..io.safe_write import atomic_write_bytes

    card = render_model_card(
        args.model, args.repo_id, args.dataset, args.eval, training_data=args.training_data
    )
    atomic_write_bytes(args.model / "README.md", str(card).encode())
    print(f"wrote {args.model / 'README.md'}")
    return 0
