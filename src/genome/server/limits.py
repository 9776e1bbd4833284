"""Request body size limit, enforced before and while a body is read."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genome.errors import PayloadTooLarge

__all__ = ["BodySizeLimit"]


class BodySizeLimit:
    """Answers 413 at once when Content-Length is too big, and stops a chunked body once it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise PayloadTooLarge(self._message(), field="body")
            return message

        async def guarded_send(message: Message) -> None:
            # Body parsers may turn our error into their own 400; once over the limit, the answer is ours.
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except PayloadTooLarge:
            if not exceeded:
                raise
        if exceeded:
            await self._reject(send)

    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes (GENOME_MAX_REQUEST_BYTES)"

    async def _reject(self, send: Send) -> None:
        body = json.dumps(PayloadTooLarge(self._message(), field="body").to_envelope()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
