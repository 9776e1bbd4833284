"""The seed's ``ensemble-training`` step image: several example models in one image, the step's parameters choosing.

The seed's pipelines run ``ensemble-training:local.3`` in every step and tell the steps apart by their parameters,
so this reads the step's ``PARAMETERS`` (JSON, set by the Sequencer) and runs the examples whose flag is true:

- ``CA_TRAIN``: the tabular forest (housing_forest.py);
- ``TEXT_TRAIN``, ``TEXT_TRAIN_1``, ``TEXT_TRAIN_2``, ...: the text pipeline (newsgroups_text.py);
- ``IMAGE_TRAIN``: the image CNN (mobilenet_image.py);
- ``EVALUATION``: the evaluation example (evaluation_store.py);
- ``OFFLINE``: passes ``--offline`` to each, so that no download is tried.

By hand, beside a server: ``PARAMETERS='{"CA_TRAIN": true, "OFFLINE": true}' python examples/ensemble_training.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The flags of the seed's pipelines, in the order the examples run when a step sets several.
EXAMPLES = {
    "CA_TRAIN": "housing_forest.py",
    "TEXT_TRAIN": "newsgroups_text.py",
    "IMAGE_TRAIN": "mobilenet_image.py",
    "EVALUATION": "evaluation_store.py",
}


def _flag(name: str) -> str | None:
    """The example flag ``name`` stands for: itself, or TEXT_TRAIN for TEXT_TRAIN_1, TEXT_TRAIN_2, ..."""
    if name in EXAMPLES:
        return name
    base, _, number = name.rpartition("_")
    return base if base in EXAMPLES and number.isdigit() else None


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true", "yes"))


def chosen(parameters: dict[str, object]) -> list[list[str]]:
    """The command lines (script and arguments) that ``parameters`` ask for, in ``EXAMPLES`` order."""
    flags = {_flag(name) for name, value in parameters.items() if _true(value)}
    offline = ["--offline"] if _true(parameters.get("OFFLINE")) else []
    commands = []
    for flag, script in EXAMPLES.items():
        if flag not in flags:
            continue
        arguments = [script, *offline]
        if script == "mobilenet_image.py":  # the image's working folder is read-only: the heat map goes to /tmp
            step = os.environ.get("STEP_NAME", "step")
            arguments += ["--heatmap", str(Path(tempfile.gettempdir()) / f"genome-heatmap-{step}.png")]
        commands.append(arguments)
    return commands


def main() -> int:
    try:
        parameters = json.loads(os.environ.get("PARAMETERS") or "{}")
    except json.JSONDecodeError as error:
        print(f"PARAMETERS is not JSON ({error}); the Sequencer sets it from the step's parameters")
        return 2
    commands = chosen(parameters if isinstance(parameters, dict) else {})
    if not commands:
        print(f"no example chosen: set one of {', '.join(EXAMPLES)} (or TEXT_TRAIN_<n>) to true in the parameters")
        return 2
    for script, *arguments in commands:
        print(f"ensemble-training: running {script} {' '.join(arguments)}".rstrip(), flush=True)
        code = subprocess.run([sys.executable, str(HERE / script), *arguments], check=False).returncode
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
