"""A Hub stand-in for the push tests: huggingface_hub's own `HfApi`, with its network methods
(create_repo, list_repo_tree, create_commit, the README YAML check) keeping repos as path -> bytes.

`upload_folder` stays huggingface_hub's, on its single-commit path (hf_xet switched off), so which
files it picks, reads and deletes is the library's real behaviour. With a ``root`` folder the repos are
also kept on disk (``root/<repo_id>/<path>``), so that processes the tests start (a CLI `synthforge
push` through `install`) and the test itself see one Hub. Not covered: the HTTP transfer, the Hub's
skipping of unchanged files, the hf_xet path.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.hf_api import RepoFile

NETWORK_METHODS = ("create_repo", "list_repo_tree", "_validate_yaml", "create_commit")


class RecordingHub(HfApi):
    """Repos in memory (and under ``root`` when given); every commit's operations are recorded."""

    def __init__(self, root: Path | None = None):
        super().__init__(token=False)
        self.root = root
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: list[list] = []
        self.created: list[tuple] = []
        if root is not None:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                owner, name, *rest = path.relative_to(root).parts
                self.repos.setdefault(f"{owner}/{name}", {})["/".join(rest)] = path.read_bytes()

    @property
    def files(self) -> dict[str, bytes]:  # the only repo, in single-repo tests
        (files,) = self.repos.values()
        return files

    def create_repo(self, repo_id, repo_type=None, private=None, exist_ok=False, space_sdk=None, **_):
        self.created.append((repo_id, repo_type, private))
        self.repos.setdefault(repo_id, {})

    def list_repo_tree(self, repo_id, recursive=False, repo_type=None, revision=None, **_):
        for path, data in self.repos[repo_id].items():
            yield RepoFile(path=path, size=len(data), oid="0" * 40)

    def _validate_yaml(self, content, repo_type=None, token=None):  # an HTTP call to the Hub
        assert content.startswith("---\n")

    def create_commit(self, repo_id, operations, commit_message, repo_type=None, revision=None, **_):
        operations = list(operations)
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                self.repos[repo_id][op.path_in_repo] = data = Path(op.path_or_fileobj).read_bytes()
                if self.root is not None:
                    (self.root / repo_id / op.path_in_repo).parent.mkdir(parents=True, exist_ok=True)
                    (self.root / repo_id / op.path_in_repo).write_bytes(data)
            elif isinstance(op, CommitOperationDelete):
                del self.repos[repo_id][op.path_in_repo]
                if self.root is not None:
                    (self.root / repo_id / op.path_in_repo).unlink()
        self.commits.append(operations)
        return SimpleNamespace(commit_url=f"https://hub.test/{repo_id}/commit/{len(self.commits)}")


def install(root: Path) -> RecordingHub:
    """Route every `HfApi` of this process to one `RecordingHub` kept under ``root``."""
    import huggingface_hub.hf_api as hf_api

    hub = RecordingHub(root)
    hf_api.is_xet_available = lambda: False
    for name in NETWORK_METHODS:
        setattr(
            hf_api.HfApi, name, lambda self, *args, _name=name, **kwargs: getattr(hub, _name)(*args, **kwargs)
        )
    return hub
