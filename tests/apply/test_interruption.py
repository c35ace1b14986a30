"""A signal's exception that a library loses on its way out still stops apply at the next stage."""
import pytest

from planctl import errors
from planctl.apply.context import StageClock


def test_a_lost_sigterm_stops_the_run_at_the_next_stage():
    clock = StageClock()
    with pytest.raises(errors.Terminated):
        try:
            errors.interrupt(errors.Terminated)   # what the SIGTERM handler does
        except BaseException:
            pass                                  # a library swallowed it
        with clock("verify"):
            pytest.fail("the stage ran after SIGTERM")
    errors.clear_interruption()
    with clock("measure"):   # once handled, stages run again
        pass
    assert [s.name for s in clock.stages] == ["measure"]


def test_a_lost_ctrl_c_stops_the_run_too():
    try:
        with pytest.raises(KeyboardInterrupt):
            try:
                errors.interrupt(KeyboardInterrupt)
            except BaseException:
                pass
            errors.raise_if_interrupted()
    finally:
        errors.clear_interruption()
