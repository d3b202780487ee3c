"""Line-by-line reading of (optionally gzipped) UTF-8 files with errors that name file and line.

Decoding happens per line, not per file, so a bad byte is reported with its exact 1-based line
instead of a bare UnicodeDecodeError from somewhere inside a buffered read.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from genrec.errors import DataError

# Strictly ASCII digits: int() alone would also accept "+5", "1_000" and non-ASCII digits.
_UINT = re.compile(r"\d+", re.ASCII)
_UINT_LINE = re.compile(r"\d+(?:[ \t]+\d+)*", re.ASCII)


def is_gzip(path: Path) -> bool:
    return path.name.endswith(".gz")


def open_binary(path: str | Path) -> IO[bytes]:
    """Open `path` for reading bytes, transparently gunzipping `*.gz`; DataError if missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def iter_lines(path: str | Path, *, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) for every line of a UTF-8 file (gzip allowed).

    Raises DataError naming the line on bad UTF-8 or a truncated/corrupt gzip stream, and
    "file is empty" when the file holds no non-blank line at all.
    """
    path = Path(path)
    lineno, seen_text = 0, False
    with open_binary(path) as f:
        for chunk in _chunks(f, path):
            for data in chunk:
                lineno += 1
                text = _decode(data, path, lineno)
                if lineno == 1 and text.startswith("\ufeff"):  # tolerate a UTF-8 byte-order mark
                    text = text[1:]
                seen_text = seen_text or bool(text.strip())
                yield lineno, text if keepends else text.rstrip("\r\n")
    if not seen_text:
        raise DataError("file is empty", path=path)


def _chunks(f: IO[bytes], path: Path) -> Iterator[list[bytes]]:
    """Lines in ~1 MiB batches: much faster than readline() on gzip streams, bounded memory."""
    lineno = 0
    while True:
        try:
            chunk = f.readlines(1 << 20)
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            # the stream fails somewhere inside this batch; name the last good line
            raise DataError(f"corrupt or truncated file after line {lineno} ({e})",
                            path=path) from e
        if not chunk:
            return
        lineno += len(chunk)
        yield chunk


def _decode(data: bytes, path: Path, lineno: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[e.start : e.start + 1]
        raise DataError(
            f"not valid UTF-8 (byte 0x{bad.hex()} at column {e.start + 1}); "
            "re-encode the file as UTF-8",
            path=path,
            line=lineno,
        ) from None


def parse_uint(token: str, path: Path, line: int, field: str) -> int:
    """A non-negative decimal integer, or DataError naming file, line, field and token."""
    if not _UINT.fullmatch(token):
        raise DataError("expected a non-negative integer", path=path, line=line, field=field,
                        value=token)
    return int(token)


def parse_uint_line(text: str, path: Path, line: int) -> list[int]:
    """Whitespace-separated integers of one line; the regex fast path keeps big files fast."""
    text = text.strip()
    if _UINT_LINE.fullmatch(text):
        return [int(t) for t in text.split()]
    for pos, token in enumerate(text.split(), start=1):
        parse_uint(token, path, line, f"token {pos}")
    raise AssertionError("unreachable: some token failed to parse")  # pragma: no cover


def available(names: list[str] | tuple[str, ...]) -> str:
    """Readable list of available column names for "missing column" errors."""
    return ", ".join(repr(n) for n in names) if names else "(none)"


def json_object(text: str, path: Path, line: int) -> dict[str, Any]:
    """One JSON object per line, or DataError naming file, line and the text."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg} at column {e.colno})", path=path, line=line,
                        value=text) from None
    if not isinstance(obj, dict):
        raise DataError("expected a JSON object per line", path=path, line=line, value=text)
    return obj
