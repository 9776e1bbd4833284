"""How models travel: serializers per framework and the bundle that carries a model with its wrapper fields."""

from genome.formats.bundle import pack, read_manifest, unpack
from genome.formats.describe import FRAMEWORKS, describe
from genome.formats.registry import ModelFormat, default_formats

__all__ = ["FRAMEWORKS", "ModelFormat", "default_formats", "describe", "pack", "read_manifest", "unpack"]
