"""planctl.files: a file written whole gets the mode a plain write would give it."""
import os
import stat

from planctl.files import atomic_write_text


def test_a_new_file_gets_the_umasks_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        written = atomic_write_text(tmp_path / "records.jsonl", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert written.read_text() == "{}\n"


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]   # no temporary file left
