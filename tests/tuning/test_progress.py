"""planctl.tuning.progress: a search off a terminal is not silent."""
from planctl.tuning import progress


def test_off_a_terminal_the_search_says_its_trials_once_a_minute(monkeypatch):
    heard = []
    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.0)
    with progress.TrialProgress(600, enabled=False, heartbeat=heard.extend) as bar:   # pytest's stderr: no tty
        bar.update(96)
        bar.update(700)
    assert heard == ["  search: 96/600 trials committed after 0 min", "  search: 600/600 trials committed after 0 min"]


def test_no_line_before_a_minute_has_passed():
    heard = []
    with progress.TrialProgress(600, heartbeat=heard.extend) as bar:
        bar.update(10)
    assert heard == []
