"""Errors that name what is wrong: the file, the line, the field and the value."""

from __future__ import annotations

from pathlib import Path


class GenrecError(Exception):
    """Base class for every error genrec raises on purpose."""


class DataError(GenrecError, ValueError):
    """Bad input data. The message names file, line (1-based), field and value when known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        self.path, self.line, self.field, self.value = path, line, field, value
        where = str(path) if path is not None else ""
        if line is not None:
            where += f":{line}"
        parts = [f"{where}: {message}" if where else message]
        if field is not None:
            parts.append(f"field {field!r}")
        if value is not None:
            shown = repr(value)
            parts.append(f"value {shown[:80] + '...' if len(shown) > 80 else shown}")
        super().__init__(" | ".join(parts))
