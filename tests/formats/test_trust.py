"""The restricted unpickler against known gadget payloads: each is refused naming the global at fault, nothing it
names is called, and the opcode scan the upload uses agrees with it."""

from __future__ import annotations

import operator
import os
import pickle
import struct
import uuid

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

from genome.errors import InvalidInput
from genome.formats.trust import UntrustedContent, trusted_loads, untrusted_globals

DIABETES = load_diabetes()
MARKER = f"/tmp/genome-trust-{uuid.uuid4().hex}"


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE


def reduce_call(module: str, name: str, *args: str) -> bytes:
    """GLOBAL module.name, then REDUCE on a tuple of string arguments: ``module.name(*args)``."""
    return b"\x80\x02" + _global(module, name) + b"(" + b"".join(_unicode(arg) for arg in args) + b"tR."


def stack_global_call(module: str, name: str, argument: str) -> bytes:
    """Protocol 4's STACK_GLOBAL with both names memoized first and fetched back with BINGET, as a hand-written
    payload may lay them out to hide them from a scanner that only looks at the strings just before."""
    return (
        b"\x80\x04"
        + _unicode(module)
        + b"q\x00"  # BINPUT 0
        + _unicode(name)
        + b"q\x01"  # BINPUT 1
        + b"0"  # POP
        + b"0"  # POP
        + _unicode("decoy")  # strings a naive scanner would pair instead
        + _unicode("decoy")
        + b"0"
        + b"0"
        + b"h\x00"  # BINGET 0
        + b"h\x01"  # BINGET 1
        + b"\x93"  # STACK_GLOBAL
        + _unicode(argument)
        + b"\x85"  # TUPLE1
        + b"R."  # REDUCE, STOP
    )


def reconstructor_call(module: str, name: str) -> bytes:
    """``copyreg._reconstructor(cls, object, None)``: the protocol 0-1 way to build an instance without __init__."""
    return (
        b"\x80\x02" + _global("copyreg", "_reconstructor") + b"(" + _global(module, name) + b"cbuiltins\nobject\nNtR."
    )


GADGETS = [
    pytest.param(reduce_call("os", "system", f"touch {MARKER}"), "os.system", id="os.system"),
    pytest.param(reduce_call("posix", "system", f"touch {MARKER}"), "posix.system", id="posix.system"),
    pytest.param(reduce_call("builtins", "eval", "__import__('os')"), "builtins.eval", id="eval"),
    pytest.param(reduce_call("builtins", "exec", "import os"), "builtins.exec", id="exec"),
    pytest.param(reduce_call("builtins", "getattr", "a", "b"), "builtins.getattr", id="getattr"),
    pytest.param(reduce_call("builtins", "__import__", "os"), "builtins.__import__", id="__import__"),
    pytest.param(reduce_call("functools", "partial", "x"), "functools.partial", id="functools.partial"),
    pytest.param(reduce_call("operator", "attrgetter", "system"), "operator.attrgetter", id="attrgetter"),
    pytest.param(reduce_call("operator", "methodcaller", "system"), "operator.methodcaller", id="methodcaller"),
    pytest.param(reduce_call("importlib", "import_module", "os"), "importlib.import_module", id="import_module"),
    pytest.param(reduce_call("subprocess", "Popen", "id"), "subprocess.Popen", id="subprocess.Popen"),
    pytest.param(reduce_call("numpy", "load", "/etc/passwd"), "numpy.load", id="numpy.load"),
    pytest.param(reduce_call("numpy", "_core", "x"), "numpy._core", id="numpy-private"),
    pytest.param(reduce_call("numpy.lib.npyio", "load", "/etc/passwd"), "numpy.lib.npyio.load", id="npyio.load"),
    pytest.param(reduce_call("numpy.testing", "assert_", "x"), "numpy.testing.assert_", id="numpy.testing"),
    pytest.param(reduce_call("joblib", "load", "/etc/passwd"), "joblib.load", id="joblib.load"),
    pytest.param(reduce_call("cloudpickle", "loads", "x"), "cloudpickle.loads", id="cloudpickle.loads"),
    # Imported into a trusted scikit-learn module, not defined there.
    pytest.param(reduce_call("sklearn.preprocessing._data", "BaseEstimator"), "", id="imported-class"),
    pytest.param(reduce_call("sklearn.naive_bayes", "ABCMeta", "x"), "", id="imported-metaclass"),
    # A listed module's dunder is not a class of it.
    pytest.param(reduce_call("sklearn.naive_bayes", "__builtins__", "x"), "", id="module-dunder"),
    pytest.param(stack_global_call("os", "system", f"touch {MARKER}"), "os.system", id="stack-global-memo"),
    pytest.param(reconstructor_call("os", "_wrap_close"), "copyreg._reconstructor", id="copyreg._reconstructor"),
    pytest.param(b"\x80\x02X\x01\x00\x00\x00aQ.", "a persistent id", id="persistent-id"),  # BINPERSID
]


@pytest.mark.parametrize(("payload", "named"), GADGETS)
def test_gadgets_are_refused_naming_the_global_and_the_scan_agrees(payload: bytes, named: str) -> None:
    with pytest.raises(UntrustedContent) as caught:
        trusted_loads(payload)
    assert isinstance(caught.value, InvalidInput) and caught.value.field == "artifact"
    assert "trust=True" in caught.value.message
    if named:
        assert any(named in name for name in caught.value.names), caught.value.names
    # The upload's scan reads the same pickle as carrying code.
    assert untrusted_globals(payload)
    assert not os.path.exists(MARKER)


def test_a_copyreg_extension_code_is_refused_and_scanned_as_code() -> None:
    import copyreg

    payload = b"\x80\x02\x82\x01)R."  # EXT1 1, called with no arguments
    copyreg.add_extension("os", "getpid", 1)
    try:
        with pytest.raises(UntrustedContent, match=r"os\.getpid"):
            trusted_loads(payload)
        assert untrusted_globals(payload) == {"os.getpid"}
    finally:
        copyreg.remove_extension("os", "getpid", 1)
    for read in (trusted_loads, untrusted_globals):  # unregistered: unreadable
        with pytest.raises(InvalidInput):
            read(payload)


def test_the_imported_sklearn_class_is_named_in_the_refusal() -> None:
    import sklearn.linear_model._base as base

    name = next(n for n, v in vars(base).items() if isinstance(v, type) and v.__module__ != base.__name__)
    payload = reduce_call("sklearn.linear_model._base", name)
    # LinearRegression's module lists its classes by name, so an imported one is not among them...
    with pytest.raises(UntrustedContent, match=name):
        trusted_loads(payload)
    # ...and a module trusted for every class it defines refuses the classes it only imports.
    with pytest.raises(UntrustedContent, match="BaseEstimator"):
        trusted_loads(reduce_call("sklearn.preprocessing._data", "BaseEstimator"))
    assert untrusted_globals(payload) == {f"sklearn.linear_model._base.{name}"}


def test_nothing_named_by_a_refused_pickle_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    monkeypatch.setattr(os, "system", lambda command: called.append(command))
    monkeypatch.setattr(operator, "attrgetter", lambda *names: called.append(names))
    for payload in (reduce_call("os", "system", "id"), stack_global_call("operator", "attrgetter", "system")):
        with pytest.raises(UntrustedContent):
            trusted_loads(payload)
    assert called == []


def test_numpy_reconstruct_with_a_huge_shape_is_refused_before_allocating() -> None:
    huge = 2**40
    payload = (
        b"\x80\x02"
        + _global("numpy.core.multiarray", "_reconstruct")
        + _global("numpy", "ndarray")
        + b"\x8a\x08"
        + struct.pack("<q", huge)
        + b"\x85"  # (huge,)
        + b"C\x01b"  # SHORT_BINBYTES b"b"
        + b"\x87R."  # TUPLE3, REDUCE
    )
    assert untrusted_globals(payload) == set()  # only trusted names: the shape is what is wrong
    with pytest.raises(InvalidInput, match="shape") as caught:
        trusted_loads(payload)
    assert not isinstance(caught.value, UntrustedContent)


def test_calling_ndarray_with_a_shape_is_refused() -> None:
    with pytest.raises(InvalidInput):
        trusted_loads(b"\x80\x02" + _global("numpy", "ndarray") + b"(K\x10\x85tR.")


@pytest.fixture(scope="module")
def forest() -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(DIABETES.data, DIABETES.target)


def _with_nodes(tree: DecisionTreeRegressor, change) -> None:
    state = tree.tree_.__getstate__()
    nodes = state["nodes"].copy()
    change(nodes)
    tree.tree_.__setstate__({**state, "nodes": nodes})


def _first_split(nodes: np.ndarray) -> int:
    return int(np.flatnonzero(nodes["left_child"] != -1)[0])


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda nodes: nodes["left_child"].__setitem__(_first_split(nodes), 10**6), id="child-past-end"),
        pytest.param(lambda nodes: nodes["right_child"].__setitem__(_first_split(nodes), 0), id="child-loops-back"),
        pytest.param(lambda nodes: nodes["left_child"].__setitem__(_first_split(nodes), -5), id="child-negative"),
        pytest.param(lambda nodes: nodes["feature"].__setitem__(_first_split(nodes), 10), id="feature-past-end"),
        pytest.param(lambda nodes: nodes["feature"].__setitem__(_first_split(nodes), -3), id="feature-negative"),
    ],
)
def test_a_forest_with_a_corrupted_tree_is_refused(forest: RandomForestRegressor, corrupt) -> None:
    bad = pickle.loads(pickle.dumps(forest))
    _with_nodes(bad.estimators_[1], corrupt)
    data = pickle.dumps(bad)
    assert untrusted_globals(data) == set()  # trusted types: only the structure check catches it
    with pytest.raises(InvalidInput, match="out of range"):
        trusted_loads(data)


def test_a_tree_reading_more_features_than_its_estimator_takes_is_refused(forest: RandomForestRegressor) -> None:
    from sklearn.tree._tree import Tree

    for drop_width in (False, True):
        bad = pickle.loads(pickle.dumps(forest))
        tree = bad.estimators_[0]
        state = tree.tree_.__getstate__()
        nodes = state["nodes"].copy()
        nodes["feature"][_first_split(nodes)] = 10**8 - 1
        wide = Tree(10**8, np.array([1], dtype=np.intp), 1)
        wide.__setstate__({**state, "nodes": nodes})
        tree.tree_ = wide
        if drop_width:
            # Without n_features_in_ scikit-learn does not check the input's width, and the tree reads past it:
            # a segmentation fault of the process that predicts.
            for estimator in bad.estimators_:
                del estimator.n_features_in_
        with pytest.raises(InvalidInput, match="a tree of the model reads"):
            trusted_loads(pickle.dumps(bad))


def test_a_sound_forest_loads_and_predicts_the_same(forest: RandomForestRegressor) -> None:
    loaded = trusted_loads(pickle.dumps(forest))
    np.testing.assert_array_equal(loaded.predict(DIABETES.data[:5]), forest.predict(DIABETES.data[:5]))
    assert untrusted_globals(pickle.dumps(forest)) == set()


class _ForgedDtype:
    """``numpy.dtype('O8')`` whose pickled flags drop LIST_PICKLE: an array's raw bytes would become object
    pointers."""

    def __reduce__(self) -> tuple:
        return (np.dtype, ("O8", False, True), (3, "|", None, None, None, -1, -1, 1))


class _ForgedArray:
    def __reduce__(self) -> tuple:
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, (np.ndarray, (0,), b"b"), (1, (2,), _ForgedDtype(), False, b"\x41" * 16))


def test_a_dtype_whose_state_disagrees_with_its_layout_is_refused_before_any_array_uses_it() -> None:
    data = pickle.dumps([_ForgedArray()], protocol=4)
    assert untrusted_globals(data) == set()  # only trusted globals: the state is what is forged
    with pytest.raises(InvalidInput, match="dtype"):
        trusted_loads(data)
    fine = np.zeros(3, dtype=[("a", "<i8"), ("b", "<f8")])
    np.testing.assert_array_equal(trusted_loads(pickle.dumps(fine, protocol=5)), fine)


def test_a_pickle_cannot_set_attributes_on_a_class_the_process_shares() -> None:
    from genome.explain.tabular import TabularExplainer

    payload = b"\x80\x02" + _global("genome.explain.tabular", "TabularExplainer")
    payload += b"N}X\x07\x00\x00\x00explainK\x01s\x86b."  # BUILD (None, {"explain": 1}) on the class itself
    before = TabularExplainer.explain
    with pytest.raises(InvalidInput, match="BUILD"):
        trusted_loads(payload)
    assert TabularExplainer.explain is before


def test_a_tree_without_nodes_is_refused() -> None:
    tree = DecisionTreeRegressor(max_depth=2).fit(DIABETES.data, DIABETES.target)
    state = tree.tree_.__getstate__()
    tree.tree_.__setstate__({**state, "node_count": 0, "nodes": state["nodes"][:0], "values": state["values"][:0]})
    with pytest.raises(InvalidInput, match="no nodes"):
        trusted_loads(pickle.dumps(tree))
