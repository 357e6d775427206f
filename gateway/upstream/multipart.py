"""A multipart upload (audio to transcribe, an image to edit) relayed as it arrives, not buffered whole.

The gateway reads only the head of the body, the text fields before the first file: `model`, which
routing needs and which is the one thing rewritten (each deployment gets its own upstream model
name), and `user`, which an experiment may assign variants by. Every byte after the model's value goes upstream as it comes from the client, and into a spool (memory up to
`SPOOL_MEMORY`, an unlinked temporary file beyond) so that a retry or a fallback can send the same
body again: a 20 MB file costs the process a few hundred kB, not 20 MB. The client's other fields
and files are relayed unchanged; they reach only the deployment's own URL, with its own key.

Every SDK (httpx, requests, curl's `-F` in the order written) sends the form fields before the file:
a body whose `model` comes after its first file part is refused with a 400 that says so, rather
than read whole to find it.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from gateway.errors import GatewayError, InvalidRequest

HEAD_LIMIT = 256 * 1024  # the fields before the model field's value, read to find it
SPOOL_MEMORY = 256 * 1024  # then the spool moves to a temporary file
CHUNK = 64 * 1024

_BOUNDARY = re.compile(r'boundary="?([^";,\s]+)"?', re.IGNORECASE)
_NAME = re.compile(rb'(?i)content-disposition:[^\r\n]*?[;\s]name="([^"]*)"')
_FILENAME = re.compile(rb"(?i)content-disposition:[^\r\n]*?[;\s]filename\*?=")


def boundary_of(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data` content type; a 400 for anything else."""
    found = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/form-data") or found is None:
        raise InvalidRequest("The request body must be multipart/form-data (with a boundary).")
    return found.group(1).encode("latin-1")


def _missing_model() -> InvalidRequest:
    return InvalidRequest(
        "Missing required parameter: 'model' (a multipart field, before the file).", param="model"
    )


class MultipartUpload:
    """`read_model()` once, then `body(model)` per attempt (each a fresh iterator over the same bytes),
    and `close()` at the end. `error` is what stopped the client's body (a disconnect, the body
    limit), so a failed upstream write can be told apart from the upstream's own failure."""

    def __init__(self, receive: Receive, boundary: bytes, content_length: int | None) -> None:
        self._receive = receive
        self._delimiter = b"--" + boundary
        self._content_length = content_length
        self._prefix = b""  # the body up to the model field's value
        self._old_model = 0  # that value's length in bytes
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - close()
        self._spooled = 0
        self._done = False
        self._lock = asyncio.Lock()
        self.error: BaseException | None = None
        self.user: str | None = None  # the `user` field, when it comes before the first file

    async def _pull(self) -> bytes:
        """The next piece of the client's body; b"" once it has all arrived."""
        if self._done:
            return b""
        try:
            message = await self._receive()
        except GatewayError as exc:  # the body limit, raised by its receive wrapper
            self.error = exc
            raise
        if message["type"] == "http.disconnect":
            self.error = ClientDisconnect()
            raise self.error
        if not message.get("more_body", False):
            self._done = True
        return message.get("body", b"")

    async def read_model(self) -> str:
        """Read the head of the body, the text fields before the first file, and return the `model`
        field's value (`user`'s, when sent, is kept in `self.user` for experiments)."""
        head = bytearray()
        while True:
            fields, complete = self._fields(head)
            found = fields.get(b"model")
            ended = complete or len(head) > HEAD_LIMIT or self._done
            if found is not None and ended:
                start, end = found
                self._prefix, self._old_model = bytes(head[:start]), end - start
                self._append(bytes(head[end:]))
                user = fields.get(b"user")
                if user is not None:
                    self.user = bytes(head[user[0] : user[1]]).decode("utf-8", "replace")
                try:
                    return bytes(head[start:end]).decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidRequest("'model' must be UTF-8 text.", param="model") from None
            if ended:
                raise _missing_model()
            head += await self._pull()

    def _fields(self, head: bytearray) -> tuple[dict[bytes, tuple[int, int]], bool]:
        """The text fields complete in `head` (name -> (start, end) of the value), and whether the
        text fields are over (a file part or the end of the form has begun)."""
        delimiter = self._delimiter
        fields: dict[bytes, tuple[int, int]] = {}
        at = head.find(delimiter)
        while at >= 0:
            after = at + len(delimiter)
            if head[after : after + 2] == b"--":
                return fields, True  # the closing delimiter
            headers_end = head.find(b"\r\n\r\n", after)
            if headers_end < 0:
                return fields, False
            headers = bytes(head[after:headers_end])
            if _FILENAME.search(headers):
                return fields, True
            value = headers_end + 4
            end = head.find(b"\r\n" + delimiter, value)
            if end < 0:
                return fields, False
            name = _NAME.search(headers)
            if name is not None:
                fields.setdefault(name.group(1), (value, end))
            at = end + 2
        return fields, False

    def _append(self, chunk: bytes) -> None:
        if chunk:
            self._spool.seek(0, 2)
            self._spool.write(chunk)
            self._spooled += len(chunk)

    def length(self, model: str) -> int | None:
        """The body's length with `model` in place of the client's, when the client sent its length."""
        if self._content_length is None:
            return None
        return self._content_length - self._old_model + len(model.encode())

    async def body(self, model: str) -> AsyncIterator[bytes]:
        """The whole body with `model` as the model field's value: what the spool holds, then the rest
        of the client's body as it arrives (kept in the spool for the next attempt)."""
        yield self._prefix + model.encode()
        sent = 0
        while True:
            if sent < self._spooled:
                self._spool.seek(sent)
                chunk = self._spool.read(min(CHUNK, self._spooled - sent))
                sent += len(chunk)
                yield chunk
                continue
            async with self._lock:
                if sent < self._spooled:
                    continue
                chunk = await self._pull()
                if not chunk and self._done:
                    return
                self._append(chunk)
                sent += len(chunk)
            if chunk:
                yield chunk

    def close(self) -> None:
        self._spool.close()
