"""A one-part ``multipart/form-data`` body streamed from disk with a known Content-Length."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def _quote_filename(name: str) -> str:
    """HTML5 form-data escaping of a file name (as browsers and urllib3 do)."""
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartFile:
    """The file ``path`` as the part ``field`` of a multipart body; read() streams it without loading it."""

    def __init__(self, path: Path, field: str = "file"):
        self.boundary = uuid.uuid4().hex
        head = (f"--{self.boundary}\r\n"
                f'Content-Disposition: form-data; name="{field}"; filename="{_quote_filename(path.name)}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._length = len(head) + path.stat().st_size + len(tail)
        self._parts: list[BinaryIO] = [io.BytesIO(head), self._file, io.BytesIO(tail)]

    @property
    def content_type(self) -> str:
        """The request's Content-Type header, naming this body's boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` more bytes of the body (the rest when negative or None); empty once it is all read."""
        wanted = self._length if size is None or size < 0 else size
        pieces: list[bytes] = []
        while wanted > 0 and self._parts:
            piece = self._parts[0].read(wanted)
            if not piece:
                self._parts.pop(0)
                continue
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        """Close the streamed file (a ``with`` block does it on leaving)."""
        self._file.close()

    def __enter__(self) -> MultipartFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
