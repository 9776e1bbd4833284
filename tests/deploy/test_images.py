"""The images' Dockerfiles install what the tested installs install, and the example images run the examples.

No image is built here (no container daemon): these checks keep the Dockerfiles from drifting away from
pyproject.toml's extras, the Makefile's torch pin and the files they copy.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from genome.server.app import API_PREFIX

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "deploy" / "Dockerfile"
STEP = ROOT / "deploy" / "step.Dockerfile"
EXAMPLE_IMAGES = ROOT / "examples" / "images"
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def instructions(path: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def arguments(path: Path) -> dict[str, str]:
    return dict(rest.partition("=")[::2] for keyword, rest in instructions(path) if keyword == "ARG")


def installed_extras(path: Path) -> list[str]:
    """The extras each ``pip install ...genome-*.whl[...]`` of the Dockerfile asks for, its ARGs filled in."""
    values = arguments(path)
    runs = " ".join(rest for keyword, rest in instructions(path) if keyword == "RUN")
    runs = re.sub(r"\$\{?(\w+)\}?", lambda match: values.get(match.group(1), match.group(0)), runs)
    return [extra for found in re.findall(r"genome-\*\.whl\)\[([^\]]*)\]", runs) for extra in found.split(",")]


def makefile_torch() -> str:
    match = re.search(r'"(torch==[\d.]+)"', (ROOT / "Makefile").read_text())
    assert match, "the Makefile pins torch's CPU build"
    return match.group(1)


def test_server_image_is_multi_stage_unprivileged_and_checks_healthz() -> None:
    steps = instructions(SERVER)
    stages = [rest for keyword, rest in steps if keyword == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS build") and stages[1].endswith(" AS runtime")
    assert any(keyword == "COPY" and rest.startswith("--from=build ") for keyword, rest in steps)
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the server runs as an unprivileged user"
    healthcheck = next(rest for keyword, rest in steps if keyword == "HEALTHCHECK")
    assert f"{API_PREFIX}/healthz" in healthcheck
    command = next(rest for keyword, rest in reversed(steps) if keyword == "CMD")
    assert command == '["genome", "serve", "--host", "0.0.0.0"]'


def test_server_image_installs_the_tested_extras_and_torch_pin() -> None:
    extras = installed_extras(SERVER)
    assert {"server", "dask", "s3"} <= set(extras), extras
    assert set(extras) <= set(EXTRAS), f"extras not in pyproject.toml: {set(extras) - set(EXTRAS)}"
    assert arguments(SERVER)["TORCH"] == makefile_torch()


def test_step_base_image_is_the_light_sdk() -> None:
    steps = instructions(STEP)
    runs = " ".join(rest for keyword, rest in steps if keyword == "RUN")
    assert '"$(ls /opt/genome/wheels/genome-*.whl)"' in runs, "the SDK alone, no extras"
    assert installed_extras(STEP) == []
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


# The seed's images (its `housing-ca-forest-model:local.1` and `ensemble-training:local.3`) and the examples'
# others, with the scripts they run.
IMAGES = {
    "housing.Dockerfile": ("housing-ca-forest-model:local.1", ["housing_forest.py"]),
    "text.Dockerfile": ("newsgroups-text-model:local.1", ["newsgroups_text.py"]),
    "image.Dockerfile": ("mobilenet-image-model:local.1", ["mobilenet_image.py"]),
    "ensemble.Dockerfile": ("ensemble-training:local.3", ["ensemble_training.py"]),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_example_image_runs_an_example_it_copies(name: str) -> None:
    path = EXAMPLE_IMAGES / name
    tag, scripts = IMAGES[name]
    steps = instructions(path)
    assert steps[1] == ("FROM", "${BASE}") and arguments(path)["BASE"] == "genome-step:local"
    assert f"-t {tag} ." in path.read_text(), f"{name} says how it is built"
    assert f"-f examples/images/{name} -t {tag} " in (ROOT / "Makefile").read_text(), "make example-images builds it"
    for keyword, rest in steps:
        if keyword == "COPY":
            *sources, _target = shlex.split(rest)
            for source in sources:
                assert list(ROOT.glob(source)), f"{name} copies {source}, which does not exist"
    command = json_list(next(rest for keyword, rest in reversed(steps) if keyword == "CMD"))
    assert command[0] == "python" and Path(command[1]).name in scripts
    assert (ROOT / "examples" / Path(command[1]).name).is_file()
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert not users or users[-1] == "genome", "a step runs unprivileged"
    assert set(installed_extras(path)) <= set(EXTRAS)
    if "TORCH" in arguments(path):
        assert arguments(path)["TORCH"] == makefile_torch()


def test_example_images_have_what_their_examples_import() -> None:
    """The SDK alone for text, SHAP for the tabular forest's sample explanations, Keras for the image model, and
    distributed for the ensemble image that also runs as a Dask worker."""
    assert installed_extras(EXAMPLE_IMAGES / "text.Dockerfile") == []
    assert installed_extras(EXAMPLE_IMAGES / "housing.Dockerfile") == ["explain"]
    assert installed_extras(EXAMPLE_IMAGES / "image.Dockerfile") == ["keras"]
    assert set(installed_extras(EXAMPLE_IMAGES / "ensemble.Dockerfile")) == {"explain", "keras", "dask"}


def json_list(text: str) -> list[str]:
    import json

    value = json.loads(text)
    assert isinstance(value, list), f"exec form expected: {text}"
    return value


def test_make_image_targets_fail_clearly_without_docker(tmp_path: Path) -> None:
    missing = tmp_path / "no-docker"
    for target in ("images", "example-images"):
        result = subprocess.run(
            ["make", "-s", "-C", str(ROOT), target, f"DOCKER={missing}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert f"make {target} needs docker" in result.stderr, result.stderr


def load_ensemble():
    spec = importlib.util.spec_from_file_location("ensemble_training", ROOT / "examples" / "ensemble_training.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ensemble_training_chooses_examples_by_the_seeds_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    ensemble = load_ensemble()
    monkeypatch.setenv("STEP_NAME", "step-3")
    assert ensemble.chosen({"CA_TRAIN": True}) == [["housing_forest.py"]]
    assert ensemble.chosen({"TEXT_TRAIN_2": True, "OFFLINE": True}) == [["newsgroups_text.py", "--offline"]]
    image = ensemble.chosen({"IMAGE_TRAIN": "true"})
    assert image[0][:3] == ["mobilenet_image.py", "--heatmap", image[0][2]] and image[0][2].endswith("step-3.png")
    assert ensemble.chosen({"TEXT_TRAIN": True, "CA_TRAIN": True}) == [["housing_forest.py"], ["newsgroups_text.py"]]
    assert ensemble.chosen({"CA_TRAIN": False, "TEXT_TRAINING": True}) == []


def test_ensemble_training_without_a_flag_says_which_exist() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ensemble_training.py")],
        env={"PARAMETERS": '{"SOMETHING": true}', "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "CA_TRAIN, TEXT_TRAIN, IMAGE_TRAIN, EVALUATION" in result.stdout
