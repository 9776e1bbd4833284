"""Evaluations written in Python: a class of ``@task`` methods that record metrics and expectations.

Each task gets a ``TaskContext`` ``t`` and the ``Dataset`` named in its decorator. ``run()`` returns the run record;
``to_run()`` also stores it in the Evaluation Store.

Example:
    >>> @evaluation(name="housing/split", targetModel="model-id")
    ... class SplitEvaluation(GenomeEvaluationRun):
    ...     @task(dataset={"ref": "s3://bucket/housing-test.csv"})
    ...     def split(self, t, dataset):
    ...         t.add_metric("train_fraction", 0.7)
    ...         t.expect(0.7, var="train_fraction").toBeLess(0.8)
    >>> record = SplitEvaluation().run()
    >>> record["status"], record["tasks"][0]["expectations"][0]["text"]
    ('passed', 'train_fraction = 0.7 is < 0.8')
"""

from __future__ import annotations

import logging
import math
import numbers
import operator
import reprlib
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import numpy as np

from genome.errors import InvalidInput
from genome.evaluations.statuses import run_status, task_status
from genome.modelstore._environment import STEP_ENVIRONMENT, from_step
from genome.modelstore.datasets import Dataset
from genome.modelstore.estimator import check_optional_str

if TYPE_CHECKING:
    pass

__all__ = ["Dataset", "Expectation", "GenomeEvaluationRun", "TaskContext", "evaluation", "task"]

_log = logging.getLogger(__name__)

_METADATA = ("name", "versionName", "code", "targetModel", *STEP_ENVIRONMENT)
_TASK_ATTRIBUTE = "_genome_task"
# The store's limits on texts (expectations' and error messages) and on tracebacks.
_MAX_TEXT, _MAX_TRACEBACK = 10_000, 100_000

# Values in expectation texts are shortened so a sentence stays a sentence, even about a big array.
_short = reprlib.Repr()
_short.maxlist = _short.maxtuple = _short.maxdict = 10
_short.maxstring = _short.maxother = 80

Run = TypeVar("Run", bound="GenomeEvaluationRun")
Method = TypeVar("Method", bound=Callable[..., Any])


class _RunStore(Protocol):
    def save_run(self, record: dict[str, Any]) -> dict[str, Any]: ...


def evaluation(
    name: str,
    versionName: str | None = None,
    code: str | dict[str, Any] | None = None,
    targetModel: str | None = None,
    application: str | None = None,
    pipelineName: str | None = None,
    pipelineRunId: str | None = None,
    pipelineStage: str | None = None,
) -> Callable[[type[Run]], type[Run]]:
    """Name a ``GenomeEvaluationRun`` class and say what it evaluates.

    Args:
        name: the evaluation's canonical name, e.g. ``"test/skill/annotations/better-than-last"``.
        versionName: the version of the evaluation code.
        code: the image that ran it, e.g. ``"ensemble-training:local.1"``, or a ``{"ref", "refType"}`` dict.
        targetModel: id of the model version evaluated; ``GenomeEvaluationRun(target=...)`` overrides it.
        application, pipelineName, pipelineRunId, pipelineStage: inside a pipeline step these default to the
            step's ``APPLICATION``, ``PIPELINE_NAME``, ``PIPELINE_RUNID`` and ``STEP_NAME``, read when it runs.

    Example:
        >>> @evaluation(name="housing/split", versionName="1.2")
        ... class SplitEvaluation(GenomeEvaluationRun):
        ...     pass
        >>> SplitEvaluation().run()["versionName"]
        '1.2'
    """
    metadata = _check_metadata(
        {
            "name": name,
            "versionName": versionName,
            "code": code,
            "targetModel": targetModel,
            "application": application,
            "pipelineName": pipelineName,
            "pipelineRunId": pipelineRunId,
            "pipelineStage": pipelineStage,
        }
    )

    def decorate(cls: type[Run]) -> type[Run]:
        if not (isinstance(cls, type) and issubclass(cls, GenomeEvaluationRun)):
            raise InvalidInput(f"@evaluation decorates a GenomeEvaluationRun subclass; got {cls!r}")
        cls._evaluation = metadata
        return cls

    return decorate


@dataclass(frozen=True)
class _TaskSpec:
    name: str | None
    data_ref: str | None
    segment: str | None


def task(
    dataset: Mapping[str, Any] | str | None = None, name: str | None = None, segment: str | None = None
) -> Callable[[Method], Method]:
    """Mark a method of a ``GenomeEvaluationRun`` as a task, called as ``method(self, t, dataset)``.

    Args:
        dataset: the data it evaluates on, ``{"ref": "s3://bucket/test.csv"}`` or the ref alone; the method gets
            a ``Dataset`` for it.
        name: the task's name, default the method's.
        segment: the slice of the data it looks at, e.g. ``"age>65"``.

    Example:
        >>> class Checks(GenomeEvaluationRun):
        ...     @task(dataset={"ref": "file:///data/test.csv"}, segment="all")
        ...     def accuracy(self, t, dataset):
        ...         t.add_metric("accuracy", 0.9)
    """
    if isinstance(dataset, Mapping):
        if "ref" not in dataset:
            raise InvalidInput(
                f'dataset needs a "ref", e.g. {{"ref": "s3://bucket/test.csv"}}; got {dataset!r}', field="dataset"
            )
        dataset = dataset["ref"]
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidInput(f"a task's name must be a non-empty string; got {name!r}", field="name")
    spec = _TaskSpec(
        name=name,
        data_ref=check_optional_str(dataset, "dataset"),
        segment=check_optional_str(segment, "segment"),
    )

    def decorate(method: Method) -> Method:
        if not callable(method):
            raise InvalidInput(f"@task decorates a method; got {method!r}")
        setattr(method, _TASK_ATTRIBUTE, spec)
        return method

    return decorate


class TaskContext:
    """What a task (or one of its prototypes) records: metrics, expectations and, for a task, its prototypes."""

    def __init__(
        self, name: str, data_ref: str | None = None, segment: str | None = None, prototype_ref: str | None = None
    ) -> None:
        self.name = name
        self.data_ref = data_ref
        self.segment = segment
        self.prototype_ref = prototype_ref
        self.metrics: dict[str, Any] = {}
        self.expectations: list[dict[str, Any]] = []
        self.prototypes: list[TaskContext] = []
        self.error: dict[str, str] | None = None

    def __repr__(self) -> str:
        failed = sum(not expectation["passed"] for expectation in self.expectations)
        prototype = f", prototypeRef={self.prototype_ref!r}" if self.prototype_ref is not None else ""
        return (
            f"TaskContext({self.name!r}, dataRef={self.data_ref!r}, segment={self.segment!r}{prototype}, "
            f"metrics={_short.repr(self.metrics)}, expectations={len(self.expectations)} ({failed} failed))"
        )

    @property
    def status(self) -> str:
        """``error`` if the task raised, ``failed`` if an expectation failed, ``passed``, or ``empty``."""
        return task_status(self.error is not None, (expectation["passed"] for expectation in self.expectations))

    def add_metric(self, name: str, value: Any) -> TaskContext:
        """Record a metric (numbers, strings, lists, dicts; numpy values become Python ones).

        A NaN or infinite number is refused with ``InvalidInput`` naming the metric: it fails the task as an error
        rather than travelling as null (JSON has neither).

        Example:
            >>> TaskContext("fit").add_metric("f1", np.float32(0.5)).metrics
            {'f1': 0.5}
        """
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"a metric needs a non-empty string name; got {name!r}", field="name")
        try:
            self.metrics[name] = _plain(value)
        except _NotFinite as exc:
            raise InvalidInput(
                f"metric {name!r} is {exc}, not a finite number: record a number, or raise saying why there is none",
                field=f"metrics.{name}",
            ) from None
        except TypeError as exc:
            raise InvalidInput(f"metric {name!r} cannot be stored: {exc}", field="value") from None
        return self

    def expect(self, actual: Any, var: str | None = None) -> Expectation:
        """Start an expectation about ``actual``, named ``var`` in the record: ``t.expect(x, var="x").toBeLess(1)``."""
        return Expectation(self, actual, var)

    def prototype(self, ref: str) -> TaskContext:
        """A sub-task about one prototype (e.g. a record id), recorded right after this task."""
        if self.prototype_ref is not None:
            raise InvalidInput(f"only a task can have prototypes; {self.prototype_ref!r} is a prototype", field="ref")
        if not isinstance(ref, str) or not ref:
            raise InvalidInput(f"a prototype needs a non-empty string ref; got {ref!r}", field="ref")
        child = TaskContext(self.name, self.data_ref, self.segment, ref)
        self.prototypes.append(child)
        return child

    def _record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dataRef": self.data_ref,
            "segment": self.segment,
            "prototypeRef": self.prototype_ref,
            "metrics": self.metrics,
            "expectations": self.expectations,
            "status": self.status,
            "error": self.error,
        }


class Expectation:
    """Matchers about one value. Each records its verdict on the task and returns the expectation, so they chain:
    ``t.expect(x, var="x").toBeGreater(0).toBeLess(1)``.

    Every matcher takes ``var=`` to name the value differently in that record.
    """

    def __init__(self, context: TaskContext, actual: Any, var: str | None = None) -> None:
        self.context = context
        self.actual = actual
        self.var = var

    def __repr__(self) -> str:
        return f"Expectation({_show(self.actual)}, var={self.var!r})"

    def add_metric(self, name: str, value: Any) -> TaskContext:
        """``TaskContext.add_metric`` on this expectation's task."""
        return self.context.add_metric(name, value)

    def expect(self, actual: Any, var: str | None = None) -> Expectation:
        """``TaskContext.expect`` on this expectation's task."""
        return self.context.expect(actual, var)

    def prototype(self, ref: str) -> TaskContext:
        """``TaskContext.prototype`` on this expectation's task."""
        return self.context.prototype(ref)

    def toBe(self, expected: Any, *, var: str | None = None) -> Expectation:
        """Pass when the value equals ``expected``; against a numpy array, shapes and elements must match."""

        def equal() -> bool:
            if isinstance(self.actual, np.ndarray) or isinstance(expected, np.ndarray):
                return bool(np.array_equal(self.actual, expected))
            return bool(self.actual == expected)

        return self._check("toBe", expected, var, equal, "equals", "does not equal")

    def toBeLess(self, expected: Any, *, var: str | None = None) -> Expectation:
        """Pass when the value is < ``expected`` (every element, for arrays)."""
        return self._compare("toBeLess", operator.lt, "<", expected, var)

    def toBeLessOrEqual(self, expected: Any, *, var: str | None = None) -> Expectation:
        """Pass when the value is <= ``expected`` (every element, for arrays)."""
        return self._compare("toBeLessOrEqual", operator.le, "<=", expected, var)

    def toBeGreater(self, expected: Any, *, var: str | None = None) -> Expectation:
        """Pass when the value is > ``expected`` (every element, for arrays)."""
        return self._compare("toBeGreater", operator.gt, ">", expected, var)

    def toBeGreaterOrEqual(self, expected: Any, *, var: str | None = None) -> Expectation:
        """Pass when the value is >= ``expected`` (every element, for arrays)."""
        return self._compare("toBeGreaterOrEqual", operator.ge, ">=", expected, var)

    def toContain(self, item: Any, *, var: str | None = None) -> Expectation:
        """Pass when ``item in value``."""
        return self._check("toContain", item, var, lambda: item in self.actual, "contains", "does not contain")

    def toBeCloseTo(self, expected: Any, tolerance: float = 1e-6, *, var: str | None = None) -> Expectation:
        """Pass when the value (a number or an array) is within ``tolerance`` of ``expected``, absolutely."""
        if not isinstance(tolerance, numbers.Real) or not tolerance >= 0:
            raise InvalidInput(f"tolerance must be a number >= 0; got {tolerance!r}", field="tolerance")
        return self._check(
            "toBeCloseTo",
            expected,
            var,
            lambda: bool(np.allclose(self.actual, expected, atol=tolerance, rtol=0)),
            f"is within {tolerance!r} of",
            f"is not within {tolerance!r} of",
        )

    def toRaise(self, expected: Any = None, *, var: str | None = None) -> Expectation:
        """Call the value, a function of no arguments, and pass when it raises ``expected``: any exception for
        ``None``, an instance of it for an exception class, the same type and message for an exception.

        Example:
            >>> t = TaskContext("errors")
            >>> t.expect(lambda: 1 / 0, var="divide").toRaise(ZeroDivisionError).context.expectations[0]["text"]
            "divide raised ZeroDivisionError('division by zero'), as expected (ZeroDivisionError)"
        """
        return self._raise("toRaise", expected, var)

    def toThrow(self, expected: Any = None, *, var: str | None = None) -> Expectation:
        """``toRaise``, recorded under the name ``toThrow``."""
        return self._raise("toThrow", expected, var)

    def _raise(self, op: str, expected: Any, var: str | None) -> Expectation:
        if isinstance(expected, type) and issubclass(expected, BaseException):
            expected_type = expected
        elif isinstance(expected, BaseException):
            expected_type = type(expected)
        elif expected is None:
            expected_type = Exception
        else:
            raise InvalidInput(
                f"{op} takes an exception class, an exception or nothing; got {expected!r}", field="expected"
            )
        var = self.var if var is None else var
        wanted = "an exception" if expected is None else _show(expected)
        if not callable(self.actual):
            subject = f"{var} = {_show(self.actual)}" if var is not None else _show(self.actual)
            text = f"{subject} is not a function to call; expected it to raise {wanted}"
            return self._add(var, op, expected, self.actual, False, text)
        subject = var if var is not None else _show(self.actual)
        try:
            self.actual()
        except (Exception, expected_type) as exc:
            passed = isinstance(exc, expected_type) and (
                not isinstance(expected, BaseException) or str(exc) == str(expected)
            )
            verdict = f", as expected ({wanted})" if passed else f"; expected {wanted}"
            return self._add(var, op, expected, exc, passed, f"{subject} raised {_show(exc)}{verdict}")
        return self._add(var, op, expected, None, False, f"{subject} raised nothing; expected {wanted}")

    def _compare(
        self, op: str, compare: Callable[[Any, Any], Any], symbol: str, expected: Any, var: str | None
    ) -> Expectation:
        def holds() -> bool:
            result = compare(self.actual, expected)
            return bool(np.all(result)) if isinstance(result, np.ndarray) else bool(result)

        return self._check(op, expected, var, holds, f"is {symbol}", f"is not {symbol}")

    def _check(
        self, op: str, expected: Any, var: str | None, holds: Callable[[], bool], says: str, denies: str
    ) -> Expectation:
        var = self.var if var is None else var
        subject = f"{var} = {_show(self.actual)}" if var is not None else _show(self.actual)
        try:
            passed = holds()
        except Exception as exc:
            # A value that cannot be compared fails the expectation; it is not an error in the task.
            passed = False
            text = f"{subject} cannot be compared with {_show(expected)} by {op}: {type(exc).__name__}: {exc}"
        else:
            text = f"{subject} {says if passed else denies} {_show(expected)}"
        return self._add(var, op, expected, self.actual, passed, text)

    def _add(self, var: str | None, op: str, expected: Any, actual: Any, passed: bool, text: str) -> Expectation:
        self.context.expectations.append(
            {
                "var": var,
                "op": op,
                "expected": _describe(expected),
                "actual": _describe(actual),
                "passed": passed,
                "text": text[:_MAX_TEXT],
            }
        )
        return self


class GenomeEvaluationRun:
    """Base of evaluations: decorate the subclass with ``@evaluation`` and its task methods with ``@task``.

    Tasks run in the order they are written, a base class's first; a method overriding a task keeps its place.

    Args:
        store: where ``to_run()`` saves the run, by default a new ``EvaluationStore()`` (``GENOME_URL``).
        target: id of the model version evaluated, instead of the decorator's ``targetModel``.
        overrides: other ``@evaluation`` fields to replace for this run, e.g. ``versionName="1.3"``.

    Example:
        >>> @evaluation(name="housing/empty")
        ... class Nothing(GenomeEvaluationRun):
        ...     pass
        >>> Nothing(target="model-id").run()["target"]
        {'ref': 'model-id', 'refType': 'model'}
    """

    _evaluation: ClassVar[dict[str, Any] | None] = None

    def __init__(self, store: _RunStore | None = None, target: str | None = None, **overrides: Any) -> None:
        self.store = store
        self.target = target
        self.overrides = overrides
        self.result: dict[str, Any] | None = None

    def run(self) -> dict[str, Any]:
        """Run every task and return the run record, without storing it."""
        metadata = self._metadata()
        contexts = []
        for spec, method, attribute in _tasks(type(self)):
            context = TaskContext(spec.name or attribute, spec.data_ref, spec.segment)
            try:
                method(self, context, Dataset(spec.data_ref))
            except Exception as exc:
                # The run goes on: one broken task should not hide the others' results.
                _log.warning("evaluation task %r raised %s: %s", context.name, type(exc).__name__, exc)
                context.error = _error(exc)
            contexts.append(context)
        tasks = [context._record() for parent in contexts for context in (parent, *parent.prototypes)]
        return {
            **metadata,
            "dataRefs": list(dict.fromkeys(context.data_ref for context in contexts if context.data_ref is not None)),
            "status": run_status(record["status"] for record in tasks),
            "tasks": tasks,
        }

    def to_run(self) -> dict[str, Any]:
        """Run every task, store the run in the Evaluation Store and return the stored record."""
        record = self.run()
        if self.store is not None:
            saved = self.store.save_run(record)
        else:
            from genome.modelstore.evaluationstore import EvaluationStore

            store = EvaluationStore()
            try:
                saved = store.save_run(record)
            finally:
                store.close()
        self.result = saved
        return saved

    def _metadata(self) -> dict[str, Any]:
        cls = type(self)
        if cls._evaluation is None:
            raise InvalidInput(f"{cls.__qualname__} needs an @evaluation(name=...) decorator to run", field="name")
        unknown = sorted(set(self.overrides) - set(_METADATA))
        if unknown:
            raise InvalidInput(
                f"unknown evaluation field {unknown[0]!r}; overrides may set {', '.join(_METADATA)}", field=unknown[0]
            )
        metadata = _check_metadata({**cls._evaluation, **self.overrides})
        for key in STEP_ENVIRONMENT:  # inside a pipeline step, what the step's environment supplies
            if metadata[key] is None:
                metadata[key] = from_step(key)
        target = check_optional_str(self.target, "target") or metadata["targetModel"]
        code = metadata["code"]
        if code is not None:
            code = {"ref": code, "refType": "image"} if isinstance(code, str) else dict(code)
        return {
            "name": metadata["name"],
            "versionName": metadata["versionName"],
            "application": metadata["application"],
            "code": code,
            "target": {"ref": target, "refType": "model"} if target else None,
            "pipelineName": metadata["pipelineName"],
            "pipelineRunId": metadata["pipelineRunId"],
            "pipelineStage": metadata["pipelineStage"],
        }


def _tasks(cls: type) -> list[tuple[_TaskSpec, Callable[..., Any], str]]:
    """The tasks of ``cls`` in order: where each name first appears along the MRO, resolved to the override."""
    names = dict.fromkeys(
        attribute
        for klass in reversed(cls.__mro__)
        for attribute, member in vars(klass).items()
        if hasattr(member, _TASK_ATTRIBUTE)
    )
    tasks = []
    for attribute in names:
        method = getattr(cls, attribute)
        spec = getattr(method, _TASK_ATTRIBUTE, None)
        if spec is not None:  # an override without @task is no longer a task
            tasks.append((spec, method, attribute))
    return tasks


def _check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(metadata["name"], str) or not metadata["name"].strip():
        raise InvalidInput(f"an evaluation needs a non-empty string name; got {metadata['name']!r}", field="name")
    for key in _METADATA:
        if key != "code":
            check_optional_str(metadata[key], key)
    code = metadata["code"]
    if not (code is None or isinstance(code, str | dict)):
        raise InvalidInput(f"code must be an image name or a dict; got {type(code).__name__}", field="code")
    return dict(metadata)


def _error(exc: Exception) -> dict[str, str]:
    # Start the traceback at the task method: the runner's own frame tells the user nothing.
    frames = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    formatted = "".join(traceback.format_exception(type(exc), exc, frames))
    return {"message": f"{type(exc).__name__}: {exc}"[:_MAX_TEXT], "traceback": formatted[-_MAX_TRACEBACK:]}


class _NotFinite(TypeError):
    """A NaN or infinite number, which JSON cannot carry."""


def _plain(value: Any) -> Any:
    """``value`` as JSON-able Python (numpy scalars and arrays included), or TypeError (``_NotFinite`` for NaN or
    Infinity)."""
    if isinstance(value, np.ndarray | np.generic):  # before the builtins: np.float64 is a float
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        raise _NotFinite(repr(value))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("a dict needs string keys")
        return {key: _plain(item) for key, item in value.items()}
    raise TypeError(f"{type(value).__name__} is not a number, string, list or dict")


def _name(value: Any) -> str | None:
    """How exceptions, classes and functions appear in records and texts; None for other values."""
    if isinstance(value, BaseException):
        return repr(value)
    if isinstance(value, type):
        return value.__qualname__
    if callable(value):
        return getattr(value, "__name__", None) or repr(value)
    return None


def _describe(value: Any) -> Any:
    """``value`` for an expectation record: JSON-able, else named or its repr."""
    name = _name(value)
    if name is not None:
        return name
    try:
        return _plain(value)
    except TypeError:
        return repr(value)


def _show(value: Any) -> str:
    """``value`` in an expectation's text."""
    name = _name(value)
    if name is not None:
        return name
    try:
        return _short.repr(_plain(value))
    except TypeError:
        return _short.repr(value)
