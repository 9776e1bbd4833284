"""Which pickled content may be read without running code: Genome's list of trusted types and the reader for them.

A pickle names the callables that rebuild it (``GLOBAL``/``STACK_GLOBAL``), and unpickling calls them: that is how
a pickle runs code. ``TrustedUnpickler`` admits only the globals listed here — scikit-learn estimators whose
prediction is plain NumPy or a validated tree, NumPy's array and random-state rebuilders, a few builtin
containers — so reading such a pickle cannot call anything else. Everything else (a lambda, a class defined in a
training script, a PyTorch module, an estimator with native code that trusts its arrays, e.g. SVMs or
HistGradientBoosting) is *untrusted*: the server loads it only in the isolated worker, and the SDK only when the
caller passes ``trust=True``.

Trees are checked after loading, because scikit-learn's tree code indexes its node arrays and the input without
bounds checks: a child must come after its parent and a split feature must exist, or the tree is refused.
"""

from __future__ import annotations

import functools
import importlib
import io
import pickle
import types
from collections.abc import Iterable
from typing import Any, ClassVar

from genome.errors import InvalidInput

__all__ = ["TrustedUnpickler", "UntrustedContent", "pickle_globals", "trusted_loads", "untrusted_globals"]


class UntrustedContent(InvalidInput):
    """A pickle names a global outside Genome's trusted list; ``names`` are the ones at fault."""

    def __init__(self, names: Iterable[str], *, where: str = "bundle") -> None:
        self.names = sorted(set(names))
        shown = ", ".join(self.names[:10]) + (" ..." if len(self.names) > 10 else "")
        super().__init__(
            f"the {where} carries code or types Genome does not load without isolation ({shown}); loading it runs "
            "that code: load it with trust=True only if you trust whoever saved it",
            field="artifact",
        )


# Trusted scikit-learn classes: estimators whose prediction is NumPy/SciPy arithmetic, and tree models whose
# native code reads only the validated Tree structure.
_SKLEARN_MODULES = {
    "sklearn.compose._column_transformer": None,
    "sklearn.compose._target": {"TransformedTargetRegressor"},
    "sklearn.decomposition._pca": {"PCA"},
    "sklearn.decomposition._truncated_svd": {"TruncatedSVD"},
    "sklearn.dummy": {"DummyClassifier", "DummyRegressor"},
    "sklearn.ensemble._forest": {
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    },
    "sklearn.feature_extraction.text": {
        "CountVectorizer",
        "TfidfVectorizer",
        "TfidfTransformer",
        "HashingVectorizer",
    },
    "sklearn.feature_selection._univariate_selection": None,
    "sklearn.feature_selection._variance_threshold": {"VarianceThreshold"},
    "sklearn.impute._base": {"SimpleImputer", "MissingIndicator"},
    "sklearn.linear_model._base": {"LinearRegression"},
    "sklearn.linear_model._bayes": {"BayesianRidge", "ARDRegression"},
    "sklearn.linear_model._coordinate_descent": {"Lasso", "ElasticNet", "LassoCV", "ElasticNetCV"},
    "sklearn.linear_model._glm.glm": {"PoissonRegressor", "GammaRegressor", "TweedieRegressor"},
    "sklearn.linear_model._huber": {"HuberRegressor"},
    "sklearn.linear_model._logistic": {"LogisticRegression", "LogisticRegressionCV"},
    "sklearn.linear_model._ridge": {"Ridge", "RidgeClassifier", "RidgeCV", "RidgeClassifierCV"},
    "sklearn.linear_model._stochastic_gradient": {"SGDClassifier", "SGDRegressor"},
    "sklearn.naive_bayes": None,
    "sklearn.neural_network._multilayer_perceptron": {"MLPClassifier", "MLPRegressor"},
    "sklearn.neural_network._stochastic_optimizers": {"AdamOptimizer", "SGDOptimizer"},
    "sklearn.pipeline": {"Pipeline", "FeatureUnion"},
    "sklearn.preprocessing._data": None,
    "sklearn.preprocessing._discretization": {"KBinsDiscretizer"},
    "sklearn.preprocessing._encoders": {"OneHotEncoder", "OrdinalEncoder"},
    "sklearn.preprocessing._function_transformer": {"FunctionTransformer"},
    "sklearn.preprocessing._label": {"LabelEncoder", "LabelBinarizer", "MultiLabelBinarizer"},
    "sklearn.preprocessing._polynomial": {"PolynomialFeatures"},
    "sklearn.svm._classes": {"LinearSVC", "LinearSVR"},
    "sklearn.tree._classes": {
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
    },
    "sklearn.tree._tree": {"Tree"},
    "sklearn.utils._bunch": {"Bunch"},
    # losses and links some estimators keep from fitting (plain arithmetic, Cython state of numbers)
    "sklearn._loss.link": None,
    "sklearn._loss.loss": None,
    "sklearn._loss._loss": None,
}
_EXACT = {("builtins", name) for name in ("set", "frozenset", "slice", "complex", "object")} | {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random.mtrand", "RandomState"),
    ("numpy.random._generator", "Generator"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    # Genome's own explainer settings, kept in fields.pkl when given to a GenomeEstimator
    ("genome.explain.tabular", "TabularExplainer"),
    ("genome.explain.text", "TextExplainer"),
    ("genome.explain.image", "ImageExplainer"),
}
_NUMPY_CORE = {"numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric"}
# the univariate feature selectors' scoring functions (called only when fitting)
_SCORE_FUNCTIONS = {"f_classif", "f_regression", "chi2", "r_regression", "f_oneway"}
_MAX_TREE_OUTPUTS = 100_000
_MAX_TREE_CLASSES = 1_000_000


def _is_trusted_name(module: str, name: str) -> bool:
    if (module, name) in _EXACT:
        return True
    if module in _NUMPY_CORE:
        return name in ("_reconstruct", "scalar", "_frombuffer")
    if module in ("numpy", "numpy.dtypes"):
        # NumPy's scalar and dtype classes (numpy.float64, numpy.dtypes.Float64DType), rebuilt from bytes
        return not name.startswith("_") and (name.endswith("DType") or name in _numpy_scalar_names())
    if module not in _SKLEARN_MODULES or (name.startswith("__") and not name.startswith("__pyx_unpickle_Cy")):
        return False
    names = _SKLEARN_MODULES[module]
    if names is None:  # every class defined in the module (find_class checks where it is defined)
        return name[:1].isupper() or name.startswith("__pyx_unpickle_Cy") or name in _SCORE_FUNCTIONS
    return name in names


def _defined_there(module: str, name: str) -> bool:
    """For a module trusted for every class it defines: whether ``name`` is defined there, not imported into it
    (the module is one of the listed scikit-learn ones, so importing it runs nothing from the pickle)."""
    if _SKLEARN_MODULES.get(module, ()) is not None:
        return True
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return False
    return getattr(found, "__module__", None) == module


@functools.cache
def _numpy_scalar_names() -> frozenset[str]:
    import numpy as np

    return frozenset(
        name for name, value in vars(np).items() if isinstance(value, type) and issubclass(value, np.generic)
    )


class _NdarrayClass:
    """What a pickle gets for ``numpy.ndarray``: only ``_reconstruct``'s class argument. Called with a shape,
    ndarray would hand out an uninitialized block of the loading process's memory."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("numpy.ndarray is only rebuilt through numpy's _reconstruct")


_NDARRAY = _NdarrayClass()


def _checked_reconstruct(target: Any) -> Any:
    # NumPy pickles every array as _reconstruct(ndarray, (0,), b'b') followed by its state; a bigger shape only
    # allocates memory before the state replaces it.
    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
        if subtype is not _NDARRAY:
            raise pickle.UnpicklingError(f"numpy _reconstruct of {subtype!r}: only plain arrays are rebuilt")
        if tuple(shape) != (0,):
            raise pickle.UnpicklingError(f"numpy _reconstruct with shape {shape!r}: arrays are rebuilt empty")
        import numpy as np

        return target(np.ndarray, shape, dtype)

    return reconstruct


def _checked_tree(target: Any) -> Any:
    def tree(n_features: Any, n_classes: Any, n_outputs: Any) -> Any:
        import numpy as np

        if not (isinstance(n_outputs, int) and 0 < n_outputs <= _MAX_TREE_OUTPUTS):
            raise pickle.UnpicklingError(f"a tree with {n_outputs!r} outputs")
        classes = np.asarray(n_classes)
        if classes.shape != (n_outputs,) or classes.min() < 1 or classes.max() > _MAX_TREE_CLASSES:
            raise pickle.UnpicklingError(f"a tree with classes {n_classes!r} for {n_outputs} outputs")
        return target(n_features, n_classes, n_outputs)

    return tree


def _check_dtype(dtype: Any) -> None:
    """A dtype whose pickled state (flags, fields, offsets) says other than NumPy would work out from its layout:
    e.g. object pointers in raw bytes. Refused before any array uses it."""
    import numpy as np

    try:
        rebuilt = np.dtype(dtype.descr) if dtype.fields else np.dtype(dtype.str)
        same = (dtype.flags, dtype.itemsize, dtype.hasobject) == (rebuilt.flags, rebuilt.itemsize, rebuilt.hasobject)
    except (TypeError, ValueError, KeyError) as exc:
        raise pickle.UnpicklingError(f"a NumPy dtype whose state does not describe a layout: {exc}") from None
    if not same:
        raise pickle.UnpicklingError(f"a NumPy dtype ({dtype.str}) whose pickled flags or size do not match its layout")


class TrustedUnpickler(pickle._Unpickler):  # the Python unpickler: its BUILD can be checked, the C one's cannot
    """An unpickler that rebuilds only Genome's trusted types; any other global raises ``UntrustedContent`` naming
    it (nothing it names is imported or called). ``BUILD`` (``__setstate__``) may only fill objects the pickle
    created, never a class, and a dtype's state must agree with its layout."""

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def load_build(self) -> None:
        import numpy as np

        target = self.stack[-2]  # type: ignore[attr-defined]
        if isinstance(target, type | types.FunctionType | types.BuiltinFunctionType | _NdarrayClass):
            # e.g. attributes set on a class the whole process shares
            raise pickle.UnpicklingError(f"BUILD on {target!r}: a pickle may only fill the objects it created")
        super().load_build()  # type: ignore[misc]
        if isinstance(target, np.dtype):
            _check_dtype(target)

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module: str, name: str) -> Any:
        if not _is_trusted_name(module, name):
            raise UntrustedContent([f"{module}.{name}"])
        found = super().find_class(module, name)
        if not _defined_there(module, name):
            raise UntrustedContent([f"{module}.{name}"])  # imported into a trusted module, not defined there
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY
        if name == "_reconstruct":
            return _checked_reconstruct(found)
        if (module, name) == ("sklearn.tree._tree", "Tree"):
            return _checked_tree(found)
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UntrustedContent(["a persistent id"])


def trusted_loads(data: bytes) -> Any:
    """Unpickle ``data`` if it holds only trusted types (``UntrustedContent`` otherwise), trees checked."""
    try:
        value = TrustedUnpickler(io.BytesIO(data)).load()
    except UntrustedContent:
        raise
    except (
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        EOFError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        RecursionError,
        OverflowError,
        ImportError,
    ) as exc:
        raise InvalidInput(f"the bundle's pickled content is not readable: {exc}", field="artifact") from exc
    _check_trees(value)
    return value


class _StubType(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls  # a class, so a pickle can also rebuild objects of "what it returned" (NEWOBJ needs a type)

    def __setitem__(cls, key: Any, value: Any) -> None:
        pass


class _Stub(metaclass=_StubType):
    """What the scan gives a pickle for every global: called, rebuilt or filled, it does nothing."""

    def __setstate__(*args: Any) -> None:  # on the class or an instance alike
        pass

    def __setitem__(*args: Any) -> None:
        pass

    def append(*args: Any) -> None:
        pass

    def extend(*args: Any) -> None:
        pass

    def add(*args: Any) -> None:
        pass


class _Scanner(pickle.Unpickler):
    """Runs a pickle's opcodes (in C, fast) with every global replaced by ``_Stub``, recording their names: nothing
    a pickle names is imported or called."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.names: set[str] = set()

    def find_class(self, module: str, name: str) -> Any:
        self.names.add(f"{module}.{name}")
        return _Stub

    def persistent_load(self, pid: Any) -> Any:
        self.names.add("a persistent id")
        return _Stub


def pickle_globals(data: bytes) -> set[str]:
    """The globals a pickle names, found without importing or calling any of them; an unreadable pickle raises
    ``InvalidInput``."""
    scanner = _Scanner(data)
    try:
        scanner.load()
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError, AttributeError, IndexError, KeyError) as exc:
        raise InvalidInput(f"the bundle holds a pickle that is not readable: {exc}", field="artifact") from exc
    except (MemoryError, RecursionError) as exc:
        raise InvalidInput(f"the bundle holds a pickle too large to read: {exc!r}", field="artifact") from exc
    return scanner.names


def untrusted_globals(data: bytes) -> set[str]:
    """The globals of a pickle that ``TrustedUnpickler`` would refuse (empty: it holds only trusted types)."""
    found = set()
    for qualified in pickle_globals(data):
        module, _, name = qualified.rpartition(".")
        if not module or not _is_trusted_name(module, name) or not _defined_there(module, name):
            found.add(qualified)
    return found


def _check_trees(value: Any) -> None:
    """Refuse tree models whose structure scikit-learn's native code would read out of bounds."""
    import numpy as np
    from sklearn.tree._tree import Tree

    atoms = (str, bytes, int, float, bool, type(None), np.generic)
    seen: set[int] = set()
    trees: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, atoms) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            if item.dtype.hasobject:
                stack.extend(item.ravel().tolist())
        elif isinstance(item, Tree):
            trees.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            attributes = vars(item)
            tree, features = attributes.get("tree_"), attributes.get("n_features_in_")
            # Without n_features_in_, scikit-learn does not check the input's width before the tree reads it.
            if isinstance(tree, Tree) and (features is None or tree.n_features != features):
                raise InvalidInput(
                    f"a tree of the model reads {tree.n_features} features but its estimator takes "
                    f"{'an unstated number' if features is None else features}",
                    field="artifact",
                )
            sub_trees = attributes.get("estimators_")
            if features is not None and isinstance(sub_trees, list | tuple):
                for sub in sub_trees:
                    if getattr(sub, "n_features_in_", features) != features:
                        raise InvalidInput("the trees of an ensemble disagree on their features", field="artifact")
            stack.extend(attributes.values())
    if trees:
        _check_tree_nodes(trees)


def _check_tree_nodes(trees: list[Any]) -> None:
    """Every node of every tree at once (a forest has hundreds): each child comes after its parent and inside its
    tree, each split feature exists."""
    import numpy as np

    counts = np.array([tree.node_count for tree in trees])
    shapes_ok = all(tree.value.shape == (tree.node_count, tree.n_outputs, tree.max_n_classes) for tree in trees)
    if counts.min() < 1 or not shapes_ok:  # a tree without nodes walks memory it never had
        raise InvalidInput("a tree of the model has no nodes, or values that do not fit its nodes", field="artifact")
    left = np.concatenate([tree.children_left for tree in trees])
    right = np.concatenate([tree.children_right for tree in trees])
    feature = np.concatenate([tree.feature for tree in trees])
    total = int(counts.sum())
    index = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)  # each node's index in its tree
    count = np.repeat(counts, counts)
    n_features = np.repeat([tree.n_features for tree in trees], counts)
    leaf = left == -1
    ok = (
        len(left) == len(right) == len(feature) == total
        and np.array_equal(leaf, right == -1)
        and bool(np.all(leaf | ((left > index) & (left < count) & (right > index) & (right < count))))
        and bool(np.all(leaf | ((feature >= 0) & (feature < n_features))))
    )
    if not ok:
        raise InvalidInput("a tree of the model has children or split features out of range", field="artifact")
