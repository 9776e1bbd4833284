"""Genome: trust for production ML."""

__version__ = "0.1.0"

__all__ = ["__version__"]
