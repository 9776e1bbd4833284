"""The HTTP machinery every SDK client shares: URL and token defaults, one request method, errors, lifecycle."""

from __future__ import annotations

import os
from enum import Enum
from typing import Any, TypeVar

import httpx

from genome.errors import error_from_envelope
from genome.modelstore._progress import transfer_bar, wanted

__all__ = ["API_PREFIX", "DEFAULT_URL", "USE_CLIENT_DEFAULT", "ApiClient", "Timeout"]

DEFAULT_URL = "http://127.0.0.1:8080"
API_PREFIX = "/v1.0/genome"


class _Default(Enum):
    USE_CLIENT_DEFAULT = "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT = _Default.USE_CLIENT_DEFAULT
Timeout = float | None | _Default
Client = TypeVar("Client", bound="ApiClient")


class ApiClient:
    """Talks to a Genome server.

    Args:
        url: the server, default ``GENOME_URL`` or ``http://127.0.0.1:8080``.
        token: API token, default ``GENOME_TOKEN``.
        timeout: seconds per request (``None`` waits forever).
        progress: show progress bars for uploads and downloads; by default only for big ones (16 MiB and
            more) on a terminal.
        client: an ``httpx.Client`` to send requests with, e.g. one on an in-process ASGI transport.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = 120.0,
        progress: bool | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = (url or os.environ.get("GENOME_URL") or DEFAULT_URL).rstrip("/")
        self._token = token or os.environ.get("GENOME_TOKEN")
        self._timeout = timeout
        self._progress = progress
        self._client = client or httpx.Client()
        self._headers: dict[str, str] = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        self._closed = False

    def __enter__(self: Client) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()
        self._closed = True

    def _build(self, method: str, path: str, timeout: Timeout, **kwargs: Any) -> httpx.Request:
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed; create a new one")
        seconds = self._timeout if timeout is USE_CLIENT_DEFAULT else timeout
        return self._client.build_request(
            method, f"{self.url}{API_PREFIX}{path}", headers=self._headers, timeout=seconds, **kwargs
        )

    @staticmethod
    def _raise_for_error(response: httpx.Response) -> None:
        if response.is_error:
            response.read()
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise error_from_envelope(response.status_code, body)

    def _request(
        self, method: str, path: str, *, timeout: Timeout = USE_CLIENT_DEFAULT, **kwargs: Any
    ) -> httpx.Response:
        response = self._client.send(self._build(method, path, timeout, **kwargs))
        self._raise_for_error(response)
        return response

    def _download(self, path: str) -> tuple[bytes, httpx.Headers]:
        """A body, streamed with a progress bar when it is big; returns it with the response headers."""
        response = self._client.send(self._build("GET", path, USE_CLIENT_DEFAULT), stream=True)
        try:
            self._raise_for_error(response)
            length = response.headers.get("content-length")
            size = int(length) if length and length.isdigit() else None
            chunks = []
            with transfer_bar("downloading", size, wanted(self._progress, size)) as advance:
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    advance(len(chunk))
            return b"".join(chunks), response.headers
        finally:
            response.close()
