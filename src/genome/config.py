"""Server settings, read from ``GENOME_*`` environment variables once, at the edges (CLI, ``create_app``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "settings_table"]


class Settings(BaseSettings):
    """Everything a Genome server can be configured with. Each field is the variable ``GENOME_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GENOME_", extra="ignore")

    home: Path = Field(
        default=Path("~/.genome"),
        description="Folder for the embedded defaults: the SQLite database and the local artifact folder.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database, e.g. postgresql+psycopg://user:pw@host/db. "
        "Default: SQLite at GENOME_HOME/genome.db.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="fsspec URL where model artifacts are kept, e.g. s3://bucket/prefix. "
        "Default: the folder GENOME_HOME/artifacts.",
    )
    artifact_options: dict[str, Any] = Field(
        default_factory=dict,
        description='JSON object of fsspec options for the artifact root, e.g. {"endpoint_url": "http://..."}.',
    )
    host: str = Field(default="127.0.0.1", description="Address `genome serve` binds to.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `genome serve` listens on.")
    max_request_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted (model uploads included); larger ones get 413.",
    )
    page_size_max: int = Field(default=500, gt=0, description="Largest page a list or search request may ask for.")
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password of the first user, admin, created when there are no users; "
        "default: a random one printed once at that first start.",
    )
    no_auth: bool = Field(
        default=False,
        description="Serve without credentials, as a local admin (development only, loopback only; "
        "what `genome serve --no-auth` sets).",
    )
    session_hours: float = Field(default=12.0, gt=0, description="How long a browser login session lasts.")
    login_max_failures: int = Field(
        default=5,
        gt=0,
        description="Failed logins for one user from one client address, within the lockout window, before that "
        "address is locked out of that user (other addresses are not).",
    )
    login_user_max_failures: int = Field(
        default=100,
        gt=0,
        description="Failed logins for one user from all client addresses together before the user is locked for "
        "everyone; keep it far above GENOME_LOGIN_MAX_FAILURES.",
    )
    login_client_max_failures: int = Field(
        default=20, gt=0, description="Failed logins from one client address before that client is locked."
    )
    login_lockout_seconds: int = Field(
        default=900, gt=0, description="The failure window and the lockout that follows, in seconds."
    )
    model_cache_size: int = Field(
        default=16,
        gt=0,
        description="Model versions the server keeps ready to serve (the worker that holds each; Spark ML trees).",
    )
    explain_result_cache_size: int = Field(
        default=1024, ge=0, description="Finished explanations kept to answer repeated requests at once (0: none)."
    )
    explain_max_rows: int = Field(
        default=1000, gt=0, description="Most rows one explanation request may ask for; more get 413."
    )
    explain_text_budget: int = Field(
        default=2_000_000,
        gt=0,
        description="Work one text (LIME) explanation may cost: num_samples x (distinct words + characters / 8), "
        "plus its tokenization; more get 413. The default keeps one explanation under about 60 MB and a few seconds.",
    )
    visualize_max_nodes: int = Field(
        default=1023,
        gt=0,
        le=4095,
        description="Most tree nodes one visualization holds; a request may ask for fewer, never more.",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL pipeline steps reach this server at (their GENOME_URL). Default: http://host:port.",
    )
    sequencer: bool = Field(
        default=True,
        description="Run pipelines in this server: claim queued runs, fire schedules, reclaim crashed runs.",
    )
    executor: Literal["local", "dask"] = Field(
        default="local",
        description="Where steps run: local (subprocesses of this server) or dask (workers of GENOME_DASK_SCHEDULER).",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Address of the dask.distributed scheduler for the dask executor, e.g. tcp://host:8786.",
    )
    executor_concurrency: int = Field(default=4, gt=0, description="Steps this server runs at once.")
    step_user: str = Field(
        default="genome-step",
        description="OS user local steps run as when the server runs as root; the default system account is created "
        "at start if missing. `root` runs steps as root (a warning at start: a step could then do anything the "
        "server can). A server not running as root runs steps as its own user, with its files hidden where the "
        "kernel allows it.",
    )
    step_env_passthrough: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated names of this server's environment variables that steps also get, e.g. "
        "AWS_PROFILE,HTTPS_PROXY. Steps otherwise get only PATH, HOME, LANG, LC_ALL, TZ and their own variables.",
    )
    hidden_paths: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(Path("/run/secrets"), Path("/var/run/secrets")),
        description="Comma-separated paths that pipeline steps and isolated workers never see, beside the server's "
        "own files (its home, GENOME_HOME, database, artifacts, logs): secrets mounted for the server. Workers also "
        "never see /run, /var, /home, /srv, /mnt, /media nor the server's working folder.",
    )
    sequencer_max_runs: int = Field(default=8, gt=0, description="Runs this server drives at once.")
    sequencer_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A run whose server has not renewed it for this long is reclaimed by another server.",
    )
    sequencer_retry_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Wait before a step's first retry; doubles for each further retry (at most 5 min).",
    )
    step_log_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=4096,
        description="Longest step log kept once its attempt ends; a longer one keeps its first quarter and last "
        "three quarters of this, and says how much was cut.",
    )

    accept_untrusted_bundles: bool = Field(
        default=True,
        description="Accept model bundles that carry code (pickles beyond Genome's trusted types: lambdas, custom "
        "classes, PyTorch modules). They are only ever loaded in the isolated worker; off: refused with a 400.",
    )
    bundle_max_bytes: int = Field(
        default=8 * 1024 * 1024 * 1024,
        gt=0,
        description="Largest size a model bundle may expand to; larger ones (decompression bombs) get 413.",
    )
    isolation_workers: int = Field(
        default=2, gt=0, description="Isolated worker processes that load and serve bundles carrying code."
    )
    isolation_user: str = Field(
        default="genome-sandbox",
        description="Isolated workers run as the OS users <this>-0, <this>-1, ... when the server runs as root "
        "(created when missing), so that no two workers share a user; each server on a machine claims accounts "
        "no other server holds.",
    )
    isolation_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Longest one request to an isolated worker may take (loading included)."
    )
    isolation_memory_bytes: int = Field(
        default=8 * 1024 * 1024 * 1024, gt=0, description="Address-space limit of each isolated worker."
    )
    isolation_allow_partial: bool = Field(
        default=False,
        description="Start isolated workers where the kernel refuses namespaces (a container without "
        "CAP_SYS_ADMIN or user namespaces), confined only by their user and limits; off: such workers do not start "
        "and no model is served.",
    )
    isolation_cache_size: int = Field(default=8, gt=0, description="Model versions each isolated worker keeps loaded.")

    @model_validator(mode="after")
    def _check_executor(self) -> Settings:
        if self.executor == "dask" and not self.dask_scheduler:
            raise ValueError("GENOME_EXECUTOR=dask needs GENOME_DASK_SCHEDULER, e.g. tcp://scheduler:8786")
        return self

    @property
    def resolved_public_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("step_env_passthrough", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        return tuple(name.strip() for name in value.split(",") if name.strip()) if isinstance(value, str) else value

    @field_validator("hidden_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("hidden_paths")
    @classmethod
    def _check_paths(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        relative = [str(path) for path in value if not path.is_absolute() or path == Path("/")]
        if relative:
            raise ValueError(f"hidden paths must be absolute and not /: {', '.join(relative)}")
        return value

    @field_validator("step_env_passthrough")
    @classmethod
    def _check_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        settings = [name for name in value if name.upper().startswith("GENOME_")]
        if settings:
            raise ValueError(f"the server's own settings are never passed to steps: {', '.join(settings)}")
        return value

    @field_validator("artifact_options", mode="before")
    @classmethod
    def _parse_options(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'genome.db'}"

    @property
    def resolved_artifact_root(self) -> str:
        return self.artifact_root or str(self.home / "artifacts")


def settings_table() -> str:
    """The Markdown table of server variables in the README (``python -m genome.config`` prints it)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, tuple):  # as it is written in the variable: comma-separated
            default = ",".join(str(item) for item in default)
        shown = "" if default is None or default == "" else f"`{default}`"
        rows.append(f"| `GENOME_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
