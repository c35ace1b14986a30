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


def test_a_refused_run_that_caught_nothing_keeps_the_last_runs_log(tmp_path):
    log = tmp_path / "cache" / "logs" / "apply.log"
    with capture(log, header="planctl apply (the real run)"):
        os.write(2, b"the real run's chatter\n")
    with pytest.raises(RuntimeError):
        with capture(log, header="planctl apply (a typo in the plan)"):
            raise RuntimeError("refused by check")
    assert "the real run's chatter" in log.read_text() and len(list(log.parent.iterdir())) == 1


def test_the_readme_names_where_the_apply_log_is_and_what_moves_it(tmp_path, monkeypatch):
    """README gives the log's default path and says $PLANCTL_CACHE (or --cache) moves it, as command_log does."""
    from pathlib import Path

    from planctl.cli.runlog import command_log

    plan = Path("plans/minilm-embed.yaml")
    monkeypatch.delenv("PLANCTL_CACHE", raising=False)
    assert command_log("apply", plan, "T", None) == Path(".planctl/cache/logs/apply-minilm-embed-T.log")
    monkeypatch.setenv("PLANCTL_CACHE", str(tmp_path / "team-cache"))
    assert command_log("apply", plan, "T", None) == tmp_path / "team-cache" / "logs" / "apply-minilm-embed-T.log"
    assert command_log("apply", plan, "T", str(tmp_path / "c")) == tmp_path / "c" / "logs" / "apply-minilm-embed-T.log"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    paragraph = next(p for p in readme.split("\n\n") if "apply-minilm-embed-<target>.log" in p)
    assert "`<cache>/logs/apply-<plan file's stem>-<target>.log`" in paragraph
    assert "`$PLANCTL_CACHE`" in paragraph and "`--cache DIR`" in paragraph


def test_an_up_to_date_apply_that_caught_nothing_keeps_the_last_runs_log(tmp_path):
    """From a new user: an up-to-date apply replaced the real build's log with a header line."""
    log = tmp_path / "cache" / "logs" / "apply.log"
    with capture(log, header="planctl apply (the real run)"):
        os.write(2, b"the real run's chatter\n")
    with capture(log, header="planctl apply (up to date)", skipped=lambda: True):
        pass
    assert "the real run's chatter" in log.read_text()
    with capture(log, header="planctl apply (a real run again)"):
        pass
    assert "planctl apply (a real run again)" in log.read_text()   # a real run's log always lands
