"""Genome's optional dependencies: the pip extra that installs each library a model, an explainer or a reader may
need, and the error naming it when it is missing (httpx's ``http2`` check).

Heavy libraries are imported where they are used, so a missing one surfaces only when a request needs it; this
module turns that ``ImportError`` into a ``MissingDependency`` (a 400 saying what to install), never a 500.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from genome.errors import MissingDependency

__all__ = ["EXTRAS", "install_hint", "missing", "require"]

# import name -> the extra of pyproject.toml that installs it
EXTRAS = {
    "torch": "torch",
    "PIL": "torch",
    "keras": "keras",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "pyspark": "spark",
    "shap": "explain",
    "lime": "explain",
    "pyarrow": "explain",
    "s3fs": "s3",
    "distributed": "dask",
}


def install_hint(module: str) -> str:
    """The command that installs ``module``: Genome's extra for it, or the module itself."""
    root = module.partition(".")[0]
    extra = EXTRAS.get(root)
    return f'pip install "genome[{extra}]"' if extra else f"pip install {root}"


def missing(exc: ImportError, purpose: str, module: str | None = None) -> MissingDependency:
    """``exc``, an import that failed while doing ``purpose``, as the error naming what to install: the module that
    was missing when Genome has an extra for it, else ``module`` (what was being imported)."""
    if isinstance(exc, MissingDependency):
        return exc
    found = exc.name or ""
    wanted = found if found.partition(".")[0] in EXTRAS or not module else module
    detail = "" if found == wanted else f" ({exc})"
    return MissingDependency(f"{purpose} needs {wanted}, which is not installed{detail}: {install_hint(wanted)}")


def require(module: str, purpose: str) -> ModuleType:
    """``module``, imported; ``MissingDependency`` naming its extra when it is not installed.

    Example:
        >>> require("json", "reading JSON").__name__
        'json'
        >>> require("unicorns", "drawing")
        Traceback (most recent call last):
        ...
        genome.errors.MissingDependency: drawing needs unicorns, which is not installed: pip install unicorns
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(exc, purpose, module) from exc
