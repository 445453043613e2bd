"""Folders fragcge writes: replaced only when fragcge wrote them, always whole.

Every folder fragcge writes (a solved scenario, a report, an appendix, a batch, a dataset)
carries a marker file, :data:`MARKER`, that names its kind. fragcge replaces or deletes a
folder only when it holds the marker of the expected kind (or is empty); anything else at
the target is a user's, and writing there is an :class:`~fragcge.errors.OutputError` that
names it, before anything is touched.

A folder is written into a temporary sibling (``.<name>.fragcge-tmp-<host>-<pid>-<random>``)
and renamed into place once complete; an old folder is first renamed aside, then deleted,
so that at every moment the target holds the old folder or the new one, whole. A write
killed midway leaves its temporary sibling behind: the next write into the same parent
deletes such siblings of this host whose process is gone.

Folders updated in place rather than replaced (a batch's, an appendix's) are *claimed*:
created with the marker, or accepted when they already carry it. Files in them are
written with :func:`write_file` (temporary sibling, then rename).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fragcge import interrupt
from fragcge.errors import OutputError

MARKER = ".fragcge.json"
"""The owner marker: {"written_by": "fragcge", "kind": KIND}."""

LOCK = ".fragcge.lock"
"""The lock file of a folder updated in place by one process at a time (a batch's)."""

KINDS = ("result", "report", "appendix", "batch", "dataset", "risk")

LEGACY = {
    "result": ("manifest.json", ("scenario", "solver", "versions")),
    "batch": ("batch.json", ("name", "runs", "executor")),
}
"""Folders written before markers existed, recognised by a JSON file with these keys (and an
appendix by its index.md's first line, :data:`APPENDIX_TITLE`)."""

APPENDIX_TITLE = "# Appendix: tables and figures"

_TEMPORARY = re.compile(r"^\..+\.fragcge-(?:tmp|old)-(?P<host>.+)-(?P<pid>\d+)-[^-]+$")


def is_folder_name(name: str) -> bool:
    """Whether ``name`` (a scenario's or a batch's) can name an output folder: one path
    component of letters, digits, '.', '_' and '-', and not '.' or '..'."""
    return name not in ("", ".", "..") and all(c.isalnum() or c in "._-" for c in name)


def owner(folder: Path) -> str | None:
    """The kind of fragcge folder ``folder`` is, or None if fragcge did not write it."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return None
    marker = _read_json(folder / MARKER)
    if marker is not None:
        kind = marker.get("kind")
        return kind if marker.get("written_by") == "fragcge" and kind in KINDS else None
    for kind, (name, keys) in LEGACY.items():
        content = _read_json(folder / name)
        if content is not None and all(key in content for key in keys):
            return kind
    try:
        with (folder / "index.md").open(encoding="utf-8") as index:
            return "appendix" if index.readline().rstrip("\n") == APPENDIX_TITLE else None
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def check_target(folder: Path, kind: str) -> None:
    """Raise OutputError unless ``folder`` is absent, empty or a fragcge ``kind`` folder."""
    _check_kind(kind)
    folder = Path(folder)
    if folder.is_symlink():
        raise OutputError(
            f"{folder} is a symbolic link; fragcge writes a {kind} folder only as a real folder"
        )
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder; choose another output folder")
    here = Path.cwd().resolve()
    resolved = folder.resolve()
    if resolved == here or resolved in here.parents:
        raise OutputError(
            f"{folder} is the current folder or holds it; choose a new folder for the {kind}"
        )
    found = owner(folder)
    if found == kind or not any(folder.iterdir()):
        return
    what = f"a fragcge {found} folder" if found else "a folder fragcge did not write"
    raise OutputError(
        f"{folder} is {what}, not a {kind} folder of fragcge; it is left as it is: "
        "choose another output folder, or move it away"
    )


@contextmanager
def replacing(folder: Path, kind: str) -> Iterator[Path]:
    """A new temporary folder to write a ``kind`` folder into; it becomes ``folder`` when the
    block ends, replacing an old one of that kind. On any error or interrupt it is deleted
    and ``folder`` is as it was. OutputError if ``folder`` belongs to someone else or
    cannot be written."""
    folder = Path(folder)
    check_target(folder, kind)
    parent = folder.parent
    with _writing(folder):
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale(parent)
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(folder, "tmp"), dir=parent))
    try:
        with _writing(folder):
            _write_marker(tmp, kind)
            yield tmp
            _swap(tmp, folder, kind)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(tmp: Path, folder: Path, kind: str) -> None:
    """Rename tmp to folder; an old folder is renamed aside first, then deleted."""
    # Checked again: another process may have put something there meanwhile.
    check_target(folder, kind)
    if not folder.exists():
        tmp.rename(folder)
        return
    old = Path(tempfile.mkdtemp(prefix=_prefix(folder, "old"), dir=folder.parent))
    try:
        with interrupt.deferred():  # Ctrl-C waits for the two renames: never neither folder
            folder.replace(old)  # onto the empty folder mkdtemp made
            try:
                tmp.rename(folder)
            except BaseException:
                old.replace(folder)
                raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def remove(folder: Path, kind: str) -> None:
    """Delete ``folder`` if it is a fragcge ``kind`` folder; leave anything else alone."""
    folder = Path(folder)
    if owner(folder) == kind:
        with _writing(folder):
            shutil.rmtree(folder)


def claim(folder: Path, kind: str) -> Path:
    """``folder``, created with the ``kind`` marker if absent or empty; OutputError if it is
    anything but a fragcge ``kind`` folder. For folders updated in place."""
    folder = Path(folder)
    check_target(folder, kind)
    with _writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        if owner(folder) != kind:
            _write_marker(folder, kind)
    return folder


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; OutputError naming the folder and the holder's
    pid if another process holds it. The lock is the kernel's (flock), released when its
    holder ends however it ends, so a killed holder leaves no stale lock. (Not taken where
    the platform has no flock.)"""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(folder) / LOCK
    with _writing(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise OutputError(
                f"{folder} is being written by another fragcge process (pid {holder}); "
                "wait until it ends, or choose another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)


def write_file(path: Path, data: str | bytes) -> None:
    """Write ``path`` whole or not at all: a temporary sibling, then a rename. Text is UTF-8
    with the line ends given."""
    path = Path(path)
    content = data.encode("utf-8") if isinstance(data, str) else data
    with _writing(path):
        fd, name = tempfile.mkstemp(prefix=_prefix(path, "tmp"), dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(content)
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise


def clean_stale(parent: Path) -> list[Path]:
    """Delete the temporary siblings in ``parent`` left by writes of this host whose process
    has ended (killed midway); returns them."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or match["host"] != host or _alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _prefix(target: Path, role: str) -> str:
    return f".{target.name}.fragcge-{role}-{_host()}-{os.getpid()}-"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_marker(folder: Path, kind: str) -> None:
    text = json.dumps({"written_by": "fragcge", "kind": kind}) + "\n"
    (folder / MARKER).write_text(text, encoding="utf-8")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    """An operating system error while writing ``target`` as an OutputError naming it."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(target) else ""
        raise OutputError(f"cannot write {target}: {reason}{where}; nothing was written") from None
