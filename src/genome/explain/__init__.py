"""Realtime explanations of stored models: tabular (SHAP), text (LIME) and image (Grad-CAM).

The explainers import their libraries (shap, lime, torch) when first used, and the server's parts
(``genome.explain.service``, ``operation``, ``schemas``) are imported from their modules, so importing this package
stays light for training code.
"""

from genome.explain.image import ImageExplainer, ImageExplanation
from genome.explain.samples import SampleExplanations, explain_sample
from genome.explain.tabular import TabularExplainer, TabularExplanation
from genome.explain.text import TextExplainer, TextExplanation

__all__ = [
    "ImageExplainer",
    "ImageExplanation",
    "SampleExplanations",
    "TabularExplainer",
    "TabularExplanation",
    "TextExplainer",
    "TextExplanation",
    "explain_sample",
]
