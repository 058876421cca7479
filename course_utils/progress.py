"""Progress for people and for log files: a live bar in Jupyter or a terminal, one line per epoch elsewhere.

A tqdm bar redraws itself many times a second; in a terminal or a notebook that is one line, but written to a
file (``make course > log``, CI) every redraw stays, and a 4-minute run made a 454 KB log. So the bar is shown
only where it can redraw in place, and loops that print a summary per epoch (``training.fit``) print it only
where there is no bar.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def interactive() -> bool:
    """True in a Jupyter kernel or when stderr is a terminal: where a progress bar redraws in place."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        return True
    return sys.stderr.isatty()


def bar(iterable: Iterable[T], *, desc: str, enabled: bool = True, **options) -> Iterable[T]:
    """``iterable`` with a transient progress bar where one helps (:func:`interactive`), else unchanged."""
    return tqdm(iterable, desc=desc, disable=not (enabled and interactive()), leave=False, **options)


def log_line(text: str, *, enabled: bool = True) -> None:
    """Print one summary line (e.g. per epoch) where no bar is shown; nothing where a bar already shows progress."""
    if enabled and not interactive():
        print(text, flush=True)
