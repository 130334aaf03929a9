"""The SQLite single-instance lock belongs to the file, not to the URL's text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ml_connector.errors import StoreError
from ml_connector.runtime.instance import SingleInstanceLock


@pytest.mark.parametrize("alias", ["symlink", "hardlink", "dotted", "symlinked_dir"])
def test_a_second_name_for_the_same_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alias: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    real = data / "ml-connector.db"
    real.write_bytes(b"")
    other = tmp_path / "elsewhere"
    other.mkdir()
    if alias == "symlink":
        (other / "link.db").symlink_to(real)
        second_url = f"sqlite:///{other / 'link.db'}"
    elif alias == "hardlink":
        os.link(real, other / "hard.db")
        second_url = f"sqlite:///{other / 'hard.db'}"
    elif alias == "dotted":
        monkeypatch.chdir(other)
        second_url = "sqlite:///../data/./ml-connector.db"
    else:
        (other / "dir").symlink_to(data, target_is_directory=True)
        second_url = f"sqlite:///{other / 'dir' / 'ml-connector.db'}"
    first = SingleInstanceLock(f"sqlite:///{real}")
    first.acquire()
    try:
        second = SingleInstanceLock(second_url)
        with pytest.raises(StoreError, match="already using this SQLite database") as info:
            second.acquire()
        # The holder's note sits beside the real path; a hard link elsewhere has no note.
        holder = "another process" if alias == "hardlink" else f"pid {os.getpid()}"
        assert holder in str(info.value)
        assert first.identity() == (real.stat().st_dev, real.stat().st_ino)
    finally:
        first.release()
    # Released: the other name may now take it.
    again = SingleInstanceLock(second_url)
    again.acquire()
    again.release()


def test_different_files_do_not_block_each_other(tmp_path: Path) -> None:
    a = SingleInstanceLock(f"sqlite:///{tmp_path / 'a.db'}")
    b = SingleInstanceLock(f"sqlite:///{tmp_path / 'b.db'}")
    a.acquire()
    b.acquire()
    a.release()
    b.release()
    assert SingleInstanceLock("sqlite://").database is None
