"""The inside of tabular models: trees, forests and boosted ensembles (scikit-learn, XGBoost, LightGBM, Spark ML)
as one ``TreeGraph`` form, linear and logistic models' coefficients, the path one prediction takes, and an SVG
drawing of a tree that needs no system binary."""

from genome.visualize.forest import Forest, LinearModel
from genome.visualize.graph import TreeGraph
from genome.visualize.visualizer import ModelVisualizer, extract

__all__ = ["Forest", "LinearModel", "ModelVisualizer", "TreeGraph", "extract"]
