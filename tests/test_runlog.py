"""planctl.cli.runlog: library output goes to the run's log, which is kept only where it may be."""
from __future__ import annotations

import os
import warnings

import pytest

from planctl.cli.runlog import capture


def test_library_output_goes_to_the_log(tmp_path, capsys):
    log = tmp_path / "cache" / "logs" / "apply.log"
    with capture(log, header="planctl apply x"):
        os.write(2, b"TVM warning on descriptor 2\n")
        warnings.warn("a library warning")
    text = log.read_text()
    assert text.startswith("# ") and "planctl apply x" in text.splitlines()[0]
    assert "TVM warning on descriptor 2" in text and "a library warning" in text
    assert "TVM warning" not in capsys.readouterr().err


def test_a_run_refused_before_its_cache_exists_leaves_no_folder_and_loses_nothing(tmp_path, capsys):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError):
        with capture(cache / "logs" / "apply.log", keep_on_error=cache.exists):
            os.write(2, b"what the library said\n")
            raise RuntimeError("refused")
    assert not cache.exists()
    assert "what the library said" in capsys.readouterr().err


def test_after_an_error_the_log_is_kept_once_the_cache_exists(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError):
        with capture(cache / "logs" / "apply.log", keep_on_error=cache.exists):
            cache.mkdir()
            os.write(2, b"chatter\n")
            raise RuntimeError("failed mid-run")
    assert "chatter" in (cache / "logs" / "apply.log").read_text()
