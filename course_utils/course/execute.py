"""Run a notebook cell by cell in one kernel, recording every cell's outcome; a failing cell does not stop the rest.

The runner (papermill) stops a notebook at its first error, which is right for the course run. Grading and the
exercise tests need more: each cell's own outcome (``ok``, ``error``, ``timeout``, ``not run``), a per-cell
timeout that interrupts a hung cell and goes on, and *probes*: extra cells run in the same kernel after the
notebook (e.g. a wrong answer followed by its check), so a check can be shown to fail without re-running the
notebook. A kernel that dies marks the remaining cells ``not run`` (it does not raise), and so does one that is
still busy after a timed-out cell was interrupted (the cell caught or ignored the interrupt).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .. import config


@dataclass
class CellOutcome:
    """What happened to one cell: ``status`` is ``ok``, ``error``, ``timeout`` or ``not run``."""

    index: int
    status: str
    ename: str = ""
    evalue: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Execution:
    """The outcomes of a notebook's cells (by index) and of the probes (in the order given)."""

    cells: list[CellOutcome]
    probes: list[list[CellOutcome]] = field(default_factory=list)
    notebook: nbformat.NotebookNode | None = None

    def first_error(self) -> CellOutcome | None:
        return next((c for c in self.cells if c.status not in {"ok", "skipped"}), None)


def parameterize(path: Path, parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """The notebook at ``path`` with papermill's injected-parameters cell after its ``parameters`` cell."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    return parameterize_notebook(load_notebook_node(str(path)), parameters, kernel_name="python3", language="python")


def _outcome(index: int, error: Exception) -> CellOutcome:
    ename = getattr(error, "ename", type(error).__name__)
    evalue = str(getattr(error, "evalue", error)).strip().splitlines()
    status = "timeout" if ename == "CellTimeoutError" else "error"
    return CellOutcome(index, status, ename, (evalue[-1] if evalue else "")[:500])


RESPONSIVE_AFTER_INTERRUPT_S = 30  # after an interrupt, a kernel that cannot run `pass` in this long is shut down


def run_cells(nb: nbformat.NotebookNode, *, cwd: Path, cell_timeout_s: int, env: dict[str, str] | None = None,
              probes: Sequence[Sequence[str]] = (), before_probes: Callable[[], None] | None = None) -> Execution:  # fmt: skip
    """Execute every code cell of ``nb`` (in place, outputs kept), then each probe's cells, in one kernel.

    ``before_probes`` is called between the two (e.g. to keep the claims file the notebook itself wrote).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    if cell_timeout_s <= 0:
        raise ValueError(f"cell_timeout_s must be positive, got {cell_timeout_s}")
    client = NotebookClient(
        nb, timeout=cell_timeout_s, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"the cell ran past {cell_timeout_s} s and was interrupted",
                          "traceback": []},
    )  # fmt: skip
    cells: list[CellOutcome] = []
    probe_outcomes: list[list[CellOutcome]] = []
    dead = ""

    def answers_after_interrupt() -> bool:
        """After a timeout: does the kernel run a trivial cell (an interrupt that was ignored leaves it busy)?"""
        full = client.timeout
        client.timeout = RESPONSIVE_AFTER_INTERRUPT_S
        try:
            return extra("pass", check=False).status == "ok"
        finally:
            client.timeout = full

    def extra(source: str, check: bool = True) -> CellOutcome:
        """Run a cell that is not the notebook's (nbclient writes a cell back at its index: append it, then drop it)."""
        nb.cells.append(nbformat.v4.new_code_cell(source))
        try:
            if not check:
                try:
                    client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
                    return CellOutcome(-1, "ok")
                except (CellExecutionError, DeadKernelError) as error:
                    return _outcome(-1, error)
            return execute(nb.cells[-1], -1, len(nb.cells) - 1)
        finally:
            nb.cells.pop()

    def execute(cell: nbformat.NotebookNode, index: int, at: int | None = None) -> CellOutcome:
        nonlocal dead
        if dead:
            return CellOutcome(index, "not run", "DeadKernelError", dead)
        try:
            client.execute_cell(cell, index if at is None else at)
            return CellOutcome(index, "ok")
        except CellExecutionError as error:
            outcome = _outcome(index, error)
            if outcome.status == "timeout" and not answers_after_interrupt():
                dead = "the kernel did not answer after a timed-out cell was interrupted"  # shut down on leaving
            return outcome
        except DeadKernelError as error:
            dead = "the kernel died in an earlier cell"
            return CellOutcome(index, "error", "DeadKernelError", str(error)[:500])

    with client.setup_kernel(env={**os.environ, **(env or {})}):
        for index, cell in enumerate(nb.cells):
            cells.append(execute(cell, index) if cell.cell_type == "code" else CellOutcome(index, "skipped"))
        if before_probes is not None:
            before_probes()
        for probe in probes:
            probe_outcomes.append([extra(source) for source in probe])
    return Execution(cells, probe_outcomes, nb)


def run_notebook(path: Path, *, quick: bool, seed: int = 0, output_dir: Path, cell_timeout_s: int = 600,
                 threads: int | None = None, probes: Sequence[Sequence[str]] = (),
                 before_probes: Callable[[], None] | None = None, env: dict[str, str] | None = None) -> Execution:  # fmt: skip
    """Run the notebook at ``path`` with ``QUICK``/``SEED`` injected; its claims and executed copy land in ``output_dir``.

    The kernel runs in the notebook's folder; ``env`` adds environment variables for it (e.g. grading's sandbox paths).
    """
    path, output_dir = Path(path), Path(output_dir)
    config.anchor_relative_paths()  # the kernel runs in the notebook's folder, not where the command started
    output_dir.mkdir(parents=True, exist_ok=True)
    nb = parameterize(path, {"QUICK": quick, "SEED": seed})
    env = {**(env or {}), config.OUTPUT_DIR_ENV: str(output_dir.resolve())}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    execution = run_cells(nb, cwd=path.parent, cell_timeout_s=cell_timeout_s, env=env, probes=probes,
                          before_probes=before_probes)
    nbformat.write(nb, output_dir / path.name)
    return execution
