"""A command's parser built from its option dataclasses, on argparse alone.

The options follow `transformers.HfArgumentParser`'s conventions (``--name`` and ``--name-with-hyphens``,
`Literal` choices, ``--flag [true|false]`` and ``--no-flag`` for booleans that default to true, lists
as repeated values), so the same dataclasses serve both; building them here keeps transformers (over a
second to import) out of ``--help`` and usage errors. Help comes from each field's ``metadata["help"]``,
positionals are the fields made with `synthforge_hf.options.positional`, and a value refused by a
dataclass's ``__post_init__`` is a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

TRUE_WORDS = ("yes", "true", "t", "y", "1")
FALSE_WORDS = ("no", "false", "f", "n", "0")


class _DefaultsShown(argparse.HelpFormatter):
    """Help that names each option's default, where it has one worth naming (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" not in text and action.default not in (None, False, [], argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def _boolean(text: str) -> bool:
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(
        f"expected a boolean ({'/'.join(TRUE_WORDS + FALSE_WORDS)}), got {text!r}"
    )


def _value_type(hint: Any) -> Any:
    """``X`` of ``X | None``; any other hint as it is."""
    if get_origin(hint) in (Union, types.UnionType):
        kinds = [kind for kind in get_args(hint) if kind is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"an option has one type (or that type or None), not {hint}")
        return kinds[0]
    return hint


def _default(item: dataclasses.Field) -> dict[str, Any]:
    if item.default is not dataclasses.MISSING:
        return {"default": item.default}
    if item.default_factory is not dataclasses.MISSING:
        return {"default": item.default_factory()}
    return {"required": True}


class CommandLine(argparse.ArgumentParser):
    """The parser of one command: an option per dataclass field, and the fields marked positional."""

    def __init__(self, prog: str, description: str | None, *dataclass_types: type) -> None:
        super().__init__(prog=prog, description=description, formatter_class=_DefaultsShown)
        self.dataclass_types = dataclass_types
        for dtype in dataclass_types:
            hints = get_type_hints(dtype)
            for item in dataclasses.fields(dtype):
                if item.metadata.get("positional"):
                    self._add_positional(item, _value_type(hints[item.name]))
                elif item.init:
                    self._add_option(item, _value_type(hints[item.name]))

    def _add_positional(self, item: dataclasses.Field, hint: Any) -> None:
        kind = get_args(hint)[0] if get_origin(hint) is list else hint
        self.add_argument(
            item.name,
            type=kind,
            help=item.metadata["help"],
            nargs=item.metadata.get("nargs"),
            metavar=item.name.upper(),
        )

    def _add_option(self, item: dataclasses.Field, hint: Any) -> None:
        names = [f"--{item.name}"] + ([f"--{item.name.replace('_', '-')}"] if "_" in item.name else [])
        settings: dict[str, Any] = {k: v for k, v in item.metadata.items() if k != "positional"}
        settings["dest"] = item.name
        if get_origin(hint) is Literal:
            choices = get_args(hint)
            settings.update(choices=choices, type=type(choices[0]), **_default(item))
        elif hint is bool:
            settings.update(
                type=_boolean, nargs="?", const=True, default=_default(item).get("default", False)
            )
        elif get_origin(hint) is list:
            settings.update(type=get_args(hint)[0], nargs="+", **_default(item))
        else:
            settings.update(type=hint, **_default(item))
        self.add_argument(*names, **settings)
        if hint is bool and settings["default"] is True:
            negated = [f"--no_{item.name}"] + (
                [f"--no-{item.name.replace('_', '-')}"] if "_" in item.name else []
            )
            self.add_argument(
                *negated, action="store_false", dest=item.name, help=f"the opposite of {names[-1]}"
            )

    def parse(self, argv: list[str] | None) -> list:
        """One instance of each dataclass (positionals set on it); a refused value exits as a usage error."""
        namespace = self.parse_args(argv)
        parsed = []
        for dtype in self.dataclass_types:
            fields = dataclasses.fields(dtype)
            values = {item.name: getattr(namespace, item.name) for item in fields if item.init}
            try:
                options = dtype(**values)
            except ValueError as err:  # __post_init__ refused a value
                self.error(str(err))
            for item in fields:
                if item.metadata.get("positional"):
                    setattr(options, item.name, getattr(namespace, item.name))
            parsed.append(options)
        return parsed
