"""`import synthforge_hf` registers the ``face-analysis`` task with transformers' pipelines, at no cost to
a process that never uses them: the registration runs when ``transformers.pipelines`` is imported (or at
once, if it already is), so the command line and the rest of the package do not pay for importing it."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

WATCHED = "transformers.pipelines"


def _register() -> None:
    from .analysis_pipeline import register

    register()


class _RegisterWhenLoaded(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``transformers.pipelines`` is about to load, it wraps that module's loader
    so the task is registered right after the module has run."""

    def find_spec(self, name, path, target=None):
        if name != WATCHED:
            return None
        sys.meta_path.remove(self)  # find the real spec without coming back here
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _register()

            spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register now if transformers' pipelines are loaded, else when they load."""
    if WATCHED in sys.modules:
        _register()
    elif not any(isinstance(finder, _RegisterWhenLoaded) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterWhenLoaded())
