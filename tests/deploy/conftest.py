"""What the deployment tests share: the repository's paths and a check of the GENOME_* settings a file sets.

Images cannot be built nor containers run on the machines these tests run on (no container daemon), so the tests
read the files instead: the Dockerfiles against pyproject.toml and the Makefile, the compose file and the gateway's
configuration against each other, and the Kubernetes manifests rendered by ``kubectl kustomize`` against the
Kubernetes schemas. Every setting a file sets goes through ``Settings``, as the server would read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from genome.config import Settings

SETTINGS = {f"GENOME_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture
def read_settings(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[str, str], str], Settings]:
    """``read(environment, where)``: the Settings a server started with ``environment`` would read. A GENOME_*
    name that is no setting (a typo the server would silently ignore) fails, naming ``where``; so does a value the
    server would refuse."""

    def read(environment: Mapping[str, str], where: str) -> Settings:
        names = {name for name in environment if name.startswith("GENOME_")}
        unknown = sorted(names - SETTINGS)
        assert not unknown, f"{where} sets {', '.join(unknown)}, which genome.config.Settings does not have"
        with monkeypatch.context() as patch:
            for name in names:
                patch.setenv(name, str(environment[name]))
            return Settings()

    return read
