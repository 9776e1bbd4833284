"""``Dataset``: what an evaluation task evaluates on, a ref and a loader for the common tabular file formats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genome.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Dataset"]

_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".json": "read_json", ".jsonl": "read_json"}


class Dataset:
    """The data a task evaluates on: its ``ref``, and ``load()`` for the common file formats."""

    def __init__(self, ref: str | None) -> None:
        self.ref = ref

    def __repr__(self) -> str:
        return f"Dataset({self.ref!r})"

    def load(self) -> pd.DataFrame:
        """Read the ref as a DataFrame: ``.csv`` (or ``.csv.gz``), ``.parquet``, ``.json`` or ``.jsonl``, from any
        location fsspec opens (local paths, ``file://``, ``s3://``, ``memory://``, ...). Needs pandas.
        """
        if self.ref is None:
            raise InvalidInput("this task has no dataset to load; give one with @task(dataset={'ref': ...})")
        import fsspec

        supported = f"Dataset.load reads {', '.join(_READERS)} files (optionally .gz) through fsspec"
        protocol = fsspec.utils.get_protocol(self.ref)
        try:
            fsspec.get_filesystem_class(protocol)
        except ValueError:
            raise InvalidInput(
                f"cannot load dataset {self.ref!r}: fsspec knows no {protocol}:// protocol. {supported}; "
                "load other data yourself from dataset.ref",
                field="dataset",
            ) from None
        stem = self.ref.lower().removesuffix(".gz")
        suffix = next((suffix for suffix in _READERS if stem.endswith(suffix)), None)
        if suffix is None:
            raise InvalidInput(
                f"cannot load dataset {self.ref!r}: unknown file type. {supported}; "
                "load other data yourself from dataset.ref",
                field="dataset",
            )
        try:
            import pandas
        except ImportError as exc:
            raise ImportError("Dataset.load needs pandas: pip install pandas") from exc
        reader = getattr(pandas, _READERS[suffix])
        options = {"lines": True} if suffix == ".jsonl" else {}
        with fsspec.open(self.ref, "rb", compression="infer") as file:
            return reader(file, **options)
