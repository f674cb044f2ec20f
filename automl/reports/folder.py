"""The report folder: checked before a search (or ``automl report``) writes to it.

A study's folder holds its leaderboards, ``best/``, checkpoints and (by default) its
SQLite file. Two studies pointed at one folder would silently overwrite each other's
``best/`` and leaderboards, so the folder records the study it belongs to
(:data:`MARKER`) and refuses another; a folder that is a file, cannot be written, or has
a name too long for the file system is refused with one line before anything runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from automl.errors import UsageError

__all__ = ["MARKER", "claim_report_dir", "check_folder_name", "owner_of"]

MARKER = ".automl-study"  # the name of the study whose reports the folder holds
_NAME_MAX = 255  # bytes in one path component on Linux, macOS and Windows file systems
_PATH_MAX = 4000  # bytes in a whole path (Linux: 4096, less room for the files inside)


def check_folder_name(study: str, what: str = "study") -> str:
    """``study`` if it can name a folder of its own (``reports/<study>``) and stay inside
    it: no path separator, no ``..``, not empty, and short enough for the file system."""
    if (not study or study in (".", "..") or "/" in study or "\\" in study
            or "\0" in study or study.startswith("-")):
        raise UsageError(f"{what} {study!r} cannot name a report folder (reports/<{what}>): "
                         "use letters, digits, - _ . only; or pass --out DIR")
    if len(os.fsencode(study)) > _NAME_MAX - 16:  # room for `-trialN`, `.tmp`, `.db-wal`
        raise UsageError(f"{what} name is {len(os.fsencode(study))} bytes long; a report "
                         f"folder's name may have at most {_NAME_MAX - 16}")
    return study


def owner_of(folder: Path) -> str | None:
    """The study whose reports ``folder`` holds, where it says (its marker, or the title of
    a leaderboard.md written before the marker existed)."""
    try:
        return (folder / MARKER).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        pass
    try:
        with (folder / "leaderboard.md").open(encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError):
        return None
    prefix = "# Leaderboard: "
    if not first.startswith(prefix):
        return None
    return first[len(prefix):].strip() or None


def claim_report_dir(folder: Path, study: str) -> Path:
    """Make sure ``folder`` can hold ``study``'s reports, create it, and mark it as the
    study's; returns it. Raises :class:`UsageError` (exit 2, one line) for a folder that is
    a file, is under a file, cannot be written, has an over-long name, or holds another
    study's reports."""
    folder = Path(folder)
    shown = str(folder)
    for part in folder.parts:
        if len(os.fsencode(part)) > _NAME_MAX:
            raise UsageError(f"report dir {shown[:80]}...: a folder name of "
                             f"{len(os.fsencode(part))} bytes; at most {_NAME_MAX}")
    if len(os.fsencode(str(folder.absolute()))) > _PATH_MAX:
        raise UsageError(f"report dir {shown[:80]}...: the path is too long")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"report dir {shown} is a file, not a folder: choose another "
                         "report.dir (--set report.dir=DIR) or move the file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A real write: permissions alone do not tell (root, read-only mounts, ACLs).
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        raise UsageError(f"report dir {shown}: a part of its path is a file, not a "
                         "folder") from None
    except NotADirectoryError:
        raise UsageError(f"report dir {shown}: a part of its path is a file, not a "
                         "folder") from None
    except OSError as exc:
        raise UsageError(f"report dir {shown}: cannot write there "
                         f"({exc.strerror or type(exc).__name__})") from None
    owner = owner_of(folder)
    if owner is not None and owner != study:
        raise UsageError(f"report dir {shown} holds the reports of study {owner!r}; study "
                         f"{study!r} would overwrite its leaderboards and best/: give it "
                         "a report.dir of its own (--set report.dir=DIR)")
    if owner is None:
        try:
            (folder / MARKER).write_text(study + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"report dir {shown}: cannot write there "
                             f"({exc.strerror or type(exc).__name__})") from None
    return folder
