"""Atomic file writes: everything hrcam writes goes to a temporary path first, then is renamed.

A reader (a user, TF Serving polling a model directory, a resumed training run) therefore sees either
the old complete file or the new complete file, never a half-written one. The renamed file or directory gets
the permissions a plain write would have given it (the process umask applied to 0666 / 0777, or the mode of
the file it replaces), not the owner-only mode of a temporary file, so another user (a TF Serving process)
can read what hrcam wrote. A failed write leaves the old file untouched and says which file it was writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_dir",
    "write_json",
    "write_text",
    "read_json",
    "plain_mode",
    "check_keras_file",
    "load_keras_file",
]

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore (not atomic for other threads creating files meanwhile)
        old = os.umask(0o022)
        os.umask(old)
    return old


def plain_mode(path: str | os.PathLike, directory: bool = False) -> int:
    """The permission bits a plain ``open(path, "w")`` / ``mkdir`` would leave: the mode of the file already
    at ``path`` (a rewrite keeps it), else 0o666 (0o777 for a directory) less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return (0o777 if directory else 0o666) & ~_umask()


def _naming(e: OSError, path: Path, tmp: Path | None = None) -> OSError:
    """``e`` with a message that names ``path`` (the file being written, not its temporary name); another
    file that ``e`` names is kept in the message."""
    other = e.filename is not None and os.fspath(e.filename) not in (str(path), str(tmp), str(path.parent))
    return OSError(e.errno, f"cannot write {path}: {e.strerror or e}" + (f": {e.filename}" if other else ""))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps ``path``'s suffix (or ``suffix``) so libraries that pick a format from
    the extension (Keras' ``.keras``, matplotlib's ``.png``) still work. On error the temporary file is
    removed and ``path`` is left untouched; an ``OSError`` (a full disk, a read-only folder) is raised
    again naming ``path``. The file gets :func:`plain_mode` permissions.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, plain_mode(path))
        os.replace(tmp_path, path)
    except OSError as e:
        raise _naming(e, path, tmp_path) from e
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; rename it to ``path`` in one step on success.

    The directory gets :func:`plain_mode` permissions (0755 under umask 022); the files written into it keep
    whatever their writers gave them.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False (nothing is ever replaced silently).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as e:
        raise _naming(e, path) from e
    try:
        yield tmp
        os.chmod(tmp, plain_mode(path, directory=True))
        if path.exists() and overwrite:
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (NumPy scalars and arrays are converted)."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# The members every Keras 3 ``.keras`` archive has (``model.weights.h5`` only when the model has weights).
_KERAS_MEMBERS = ("config.json", "metadata.json")


def check_keras_file(path: str | os.PathLike, what: str = "model file") -> Path:
    """``path`` as a ``Path`` when it is a readable ``.keras`` archive (TensorFlow-free, reads the zip index).

    Raises:
        FileNotFoundError: nothing at ``path``. ValueError: a directory, another suffix, or a file that is not
        a valid ``.keras`` file (not a zip archive: truncated or another format; or without Keras' members).
        ``what`` names the file in the messages (``"--model"``, ``"masker file"``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a directory, not a .keras file")
    if path.suffix != ".keras":
        raise ValueError(f"{what} {str(path)!r} must be a '.keras' file")
    problem = None
    try:
        if not zipfile.is_zipfile(path):
            problem = "not a zip archive (truncated, or another format)"
        else:
            with zipfile.ZipFile(path) as z:
                missing = [m for m in _KERAS_MEMBERS if m not in z.namelist()]
            if missing:
                problem = f"the archive lacks {', '.join(missing)}"
    except (OSError, zipfile.BadZipFile) as e:
        problem = str(e)
    if problem:
        raise ValueError(f"{what} {str(path)!r} is not a valid .keras file: {problem}")
    return path


def load_keras_file(path: str | os.PathLike, what: str = "model file", **kwargs: Any) -> Any:
    """``keras.saving.load_model(path, **kwargs)`` after :func:`check_keras_file`; a damaged archive (bad
    CRC, cut-off weights, broken JSON) is a ``ValueError`` saying the file is not a valid ``.keras`` file,
    instead of whatever the zip / HDF5 / JSON reader raised."""
    import keras

    path = check_keras_file(path, what)
    try:
        return keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError, UnicodeDecodeError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{what} {str(path)!r} is not a valid .keras file: {detail}") from None
