"""The examples of the README and of the pages it links (docs/, CONTRIBUTING.md) as data: their fenced
``bash`` / ``python`` blocks and the complete commands named inline in their prose, each matched to a route
of tests/acceptance/test_readme.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# In the order a reader goes through them: later examples use what earlier ones made.
PAGES = (
    "README.md",
    "docs/generation.md",
    "docs/datasets.md",
    "docs/training.md",
    "docs/next3d.md",
    "docs/benchmarks.md",
    "docs/architecture.md",
    "CONTRIBUTING.md",
)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
INLINE_COMMAND = re.compile(r"`((?:\.venv/bin/)?(?:synthforge|python|accelerate|bash) [^`\n]+)`")


@dataclass(frozen=True)
class Example:
    """One example: its page, language (``bash``, ``python``, ``inline``), text and first line number."""

    language: str
    text: str
    line: int
    page: str = "README.md"

    @property
    def where(self) -> str:
        return f"{self.page} line {self.line}"

    @property
    def body(self) -> str:
        """The text from its first line that is not blank or a comment."""
        lines = self.text.splitlines()
        while lines and (not lines[0].strip() or lines[0].startswith("#")):
            lines.pop(0)
        return "\n".join(lines)

    @property
    def first_command(self) -> str:
        return self.body.splitlines()[0]


def page_examples(text: str, page: str = "README.md") -> list[Example]:
    """The fenced blocks, then the inline commands of the prose (outside any block), in page order."""
    examples = [
        Example(m.group(1), m.group(2), text[: m.start()].count("\n") + 1, page)
        for m in FENCE.finditer(text)
        if m.group(1) in ("bash", "python")
    ]
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keeps line numbers
    for m in INLINE_COMMAND.finditer(prose):
        examples.append(Example("inline", m.group(1), prose[: m.start()].count("\n") + 1, page))
    return examples


def readme_examples() -> list[Example]:
    """The examples of every page, pages in reading order."""
    return [example for page in PAGES for example in page_examples((ROOT / page).read_text(), page)]


@dataclass(frozen=True)
class Route:
    """How the acceptance suite runs the examples whose body starts with ``starts``.

    ``replace``: (old, new) pairs applied in order, each of which must occur (so an edited README
    fails loudly rather than running unscaled); ``{device}`` in a new text is the test device. ``run``
    is ``bash`` or ``python`` (the text as a script, in the work folder) or ``check`` (not run: ``why``
    says what covers it instead)."""

    starts: str
    run: str
    replace: tuple[tuple[str, str], ...] = ()
    why: str = ""
    cuda_only: bool = False
    timeout: int = 600
    files: tuple[str, ...] = field(default=())  # paths the route must leave in the work folder

    def script(self, example: Example, device: str) -> str:
        text = example.text
        for old, new in self.replace:
            if old not in text:
                raise AssertionError(f"{example.where}: {old!r} is no longer in the example")
            text = text.replace(old, new.format(device=device))
        return text


def route_of(example: Example, routes: list[Route]) -> Route:
    """The route whose ``starts`` the example's body begins with (the longest that matches)."""
    matching = [r for r in routes if example.body.startswith(r.starts)]
    if not matching:
        raise LookupError(
            f"{example.where}: no acceptance route for {example.first_command!r}; "
            "add one to tests/acceptance/test_readme.py"
        )
    return max(matching, key=lambda r: len(r.starts))
