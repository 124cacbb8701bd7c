"""Files get the permissions of a plain write, a damaged .keras file is named as such, and a CLI failure is
one line with an exit status (1 for a fault such as an unreachable server, 2 for bad input), --debug for the
traceback."""

from __future__ import annotations

import os
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from hrcam.cli import main
from hrcam.io import atomic_dir, check_keras_file, write_json, write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_writes_get_the_modes_of_a_plain_write(tmp_path, umask_022):
    write_json(tmp_path / "a.json", {"x": 1})
    write_text(tmp_path / "sub" / "b.txt", "hello")
    with atomic_dir(tmp_path / "version") as tmp:
        (tmp / "saved_model.pb").write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "sub" / "b.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "version").stat().st_mode) == 0o755
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # no temporaries left


def test_a_damaged_keras_file_is_named_as_such(tmp_path):
    cut = tmp_path / "cut.keras"
    cut.write_bytes(b"PK\x03\x04 not a whole zip archive")
    with pytest.raises(ValueError, match="not a valid .keras file") as err:
        check_keras_file(cut)
    assert "cut.keras" in str(err.value)
    empty_zip = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("other.txt", "x")
    with pytest.raises(ValueError, match="not a valid .keras file"):
        check_keras_file(empty_zip)
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        check_keras_file(tmp_path / "missing.keras")


def test_cli_failures_are_one_line_with_an_exit_status(tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    # a server that is not there: a run-time fault (1), the URL named, no traceback
    argv = [
        "explain",
        "--server",
        "http://127.0.0.1:9",
        "--model-name",
        "m",
        str(img),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "127.0.0.1:9" in err and "Traceback" not in err and len(err.splitlines()) == 1
    # bad input: a usage error (2), naming the file
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"garbage")
    assert main(["explain", "--model", str(bad), str(img), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.keras" in err and "Traceback" not in err and len(err.splitlines()) == 1
    # --debug: the traceback too
    assert main(["--debug", "explain", "--model", str(bad), str(img), "--out", str(tmp_path / "o")]) == 2
    assert "Traceback" in capsys.readouterr().err
