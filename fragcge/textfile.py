"""Reading a user's text file (TOML, CSV) the one way every loader does: UTF-8, BOM allowed."""

from __future__ import annotations

from pathlib import Path


def read_utf8(path: Path) -> tuple[bytes, str]:
    """The file's bytes, and its text decoded as UTF-8 without a leading byte-order mark.

    Spreadsheets and some Windows editors write a BOM; it is not part of the text. Raises
    OSError if the file cannot be read and UnicodeDecodeError if it is not UTF-8.
    """
    raw = path.read_bytes()
    return raw, raw.decode("utf-8-sig")
