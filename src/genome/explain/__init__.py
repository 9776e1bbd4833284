"""Realtime explanations of stored models (tabular (SHAP) and text (LIME); image and text come later).

The server's parts (``genome.explain.service``, ``cache``, ``schemas``) are imported from their modules, so
importing this package stays light for training code.
"""

from genome.explain.samples import SampleExplanations, explain_sample
from genome.explain.tabular import TabularExplainer, TabularExplanation

__all__ = ["SampleExplanations", "TabularExplainer", "TabularExplanation", "explain_sample"]
