"""Helpers for the Efficient AI Course notebooks: data, models, training, checkpoints, measuring, claims, plots.

Notebooks import it as ``import course_utils as cu`` and use ``cu.data``, ``cu.models``, ... .
Importing has no side effects: no seeding, no downloads, no global plot settings.
The notebook-specific helpers (``pruning``, ``sparse``, ``weight_sharing``, ``quantization``, ``distillation``,
``compression``, ``benchmark``) are imported where used: ``from course_utils import sparse``.
"""

from . import atomic, baselines, checkpoints, claims, config, cores, data, hardware, measure, models, plots, stats, training

__all__ = ["atomic", "baselines", "checkpoints", "claims", "config", "cores", "data", "hardware", "measure", "models",
           "plots", "stats", "training"]
__version__ = "0.1.0"
