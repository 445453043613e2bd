"""A scenario file's bytes, text and hash, and the line each table or key sits on."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fragcge.errors import ScenarioError
from fragcge.textfile import read_utf8

# A header stands alone on its line (bar a comment), unlike the inner lines of an array.
_HEADER = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_.\-"' ]+?)\s*\]\]?\s*(#.*)?$""")
_KEY = re.compile(r"""^\s*["']?([A-Za-z0-9_-]+)["']?\s*=""")


@dataclass(frozen=True)
class SourceFile:
    """The text of one file as read, with its sha256, for messages and the manifest."""

    path: Path
    text: str
    sha256: str

    @classmethod
    def read(cls, path: Path) -> SourceFile:
        """Read ``path`` as UTF-8, refusing a missing or undecodable file by name."""
        try:
            raw, text = read_utf8(path)
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read the file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ScenarioError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        return cls(path=path, text=text, sha256=hashlib.sha256(raw).hexdigest())

    def toml(self) -> dict:
        """The text parsed as TOML, refusing invalid TOML with the file and the parser's
        line."""
        try:
            return tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{self.path}: not valid TOML: {exc}") from None

    def where(
        self,
        table: str,
        key: str | None = None,
        index: int | None = None,
        line_of: str | None = None,
    ) -> str:
        """``file:line: [table] key``, the place a message points to.

        ``index`` (1-based) picks one ``[[table]]`` of an array of tables; ``line_of`` locates
        a key other than the one shown (an unknown key is shown in the message itself).
        """
        line = self.line(table, line_of or key, index)
        place = f"{self.path}:{line}" if line else str(self.path)
        if not table:
            section = "top level"
        elif index is None:
            section = f"[{table}]"
        else:
            section = f"[[{table}]] #{index}"
        return f"{place}: {section}" + (f" {key}" if key else "")

    def line(self, table: str, key: str | None = None, index: int | None = None) -> int | None:
        """1-based line of ``key`` in the table (or of the table's header); None if not found."""
        current: tuple[str, int | None] = ("", None)
        counts: dict[str, int] = {}
        header_line = None
        for number, text in enumerate(self.text.splitlines(), start=1):
            header = _HEADER.match(text)
            if header:
                name = header.group(2).strip().strip("\"'")
                if header.group(1) == "[[":
                    counts[name] = counts.get(name, 0) + 1
                    current = (name, counts[name])
                else:
                    current = (name, None)
                if current == (table, index):
                    header_line = number
                continue
            if current == (table, index) and key is not None:
                found = _KEY.match(text)
                if found and found.group(1) == key:
                    return number
        return header_line
