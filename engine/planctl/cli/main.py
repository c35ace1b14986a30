"""The ``planctl`` command: a click group whose subcommands are loaded lazily (one module each), and
the single top-level handler that maps errors to exit codes (DESIGN.md "Interfaces")."""
from __future__ import annotations

import contextlib

import importlib
import importlib.util
import os
import platform
import sys
import tempfile
import traceback
from datetime import datetime, timezone

import click

from planctl import __version__
from planctl.errors import PlanctlError, Terminated, clear_interruption, interrupt

# name -> "module:attribute"; modules are imported only when their command runs, so `validate`
# never pays for `apply`'s imports.
COMMANDS = {
    "validate": "planctl.cli.validate:command",
    "check": "planctl.cli.check:command",
    "rule": "planctl.cli.rule:command",
    "schema": "planctl.cli.schema:command",
    "init": "planctl.cli.init:command",
    "plan": "planctl.cli.plan:command",
    "apply": "planctl.cli.apply:command",
    "tune": "planctl.cli.tune:command",
    "rollback": "planctl.cli.rollback:command",
    "cache": "planctl.cli.cache:command",
    "verify": "planctl.cli.verify:command",
    "targets": "planctl.cli.targets:command",
}

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 143   # 128 + SIGTERM, what a shell reports for a process SIGTERM killed


def _raise_terminated(signum, frame):
    interrupt(Terminated)


def _raise_interrupted(signum, frame):
    interrupt(KeyboardInterrupt)


@contextlib.contextmanager
def _signals_as_exceptions():
    """SIGTERM raises Terminated, SIGINT KeyboardInterrupt, both remembered so that a stage boundary
    raises them again when a library lost the first (planctl.errors.raise_if_interrupted)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    clear_interruption()
    wanted = {signal.SIGTERM: _raise_terminated}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:   # not where SIGINT is ignored (nohup, &)
        wanted[signal.SIGINT] = _raise_interrupted
    previous = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        clear_interruption()


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(n for n, ref in COMMANDS.items() if _module_exists(ref))

    def get_command(self, ctx, name):
        ref = COMMANDS.get(name)
        if ref is None or not _module_exists(ref):
            return None
        module, attr = ref.split(":")
        return _with_verbose(getattr(importlib.import_module(module), attr))


def _count_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        root = ctx.find_root()
        root.ensure_object(dict)
        root.obj["verbose"] = root.obj.get("verbose", 0) + value
        _run["verbose"] = root.obj["verbose"]


def _with_verbose(command: click.Command) -> click.Command:
    """``-v`` after the subcommand counts as before it (``planctl apply PLAN -v`` as ``planctl -v
    apply PLAN``): users put flags at the end, as git and pip accept them."""
    if not any("-v" in p.opts for p in command.params):
        command.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False,
                                           callback=_count_verbose, help="As planctl -v (before the command)."))
    return command


def _module_exists(ref: str) -> bool:
    return importlib.util.find_spec(ref.split(":")[0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="planctl")
@click.option("-v", "--verbose", count=True,
              help="-v: apply's stage progress on stderr, also off a terminal; -vv: also the raw "
                   "traceback (with TVM's own error) behind any error.")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Declarative optimization plans for ML inference."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    _run["verbose"] = verbose


# what the current ``main`` call parsed, for the error handler (the click context is gone by then)
_run: dict[str, int] = {"verbose": 0}


def _tracebacks() -> bool:
    return bool(os.environ.get("PLANCTL_TRACEBACK")) or _run["verbose"] >= 2


def print_error(err: PlanctlError) -> None:
    """``path:line:col: error[PLNxxx] message``, the source line with a caret, then ``help:``."""
    from planctl.documents.diagnostics import render_error

    if getattr(err, "findings", None):   # LegalityError: each finding at its line first, as check prints it
        from planctl.rules.reporters.as_text import one, use_colour

        for finding in err.findings:
            click.echo(one(finding, use_colour(sys.stderr)) + "\n", err=True)
    click.echo(render_error(err), err=True)


def _write_crash_log(exc: BaseException) -> str:
    fd, path = tempfile.mkstemp(prefix="planctl-crash-", suffix=".log")
    with os.fdopen(fd, "w") as log:
        log.write(f"planctl {__version__}\npython {sys.version}\nplatform {platform.platform()}\n")
        log.write(f"time {datetime.now(timezone.utc).isoformat()}\nargv {sys.argv!r}\n\n")
        log.write("".join(traceback.format_exception(exc)))
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises)."""
    _run["verbose"] = 0
    try:
        with _signals_as_exceptions():
            code = cli.main(args=argv, prog_name="planctl", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_OK
    except Terminated:
        click.echo("terminated (SIGTERM)", err=True)
        return EXIT_TERMINATED
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as usage:
        usage.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except PlanctlError as err:
        if _tracebacks():
            traceback.print_exc()
        print_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_INTERNAL
    except MemoryError as exc:   # the host's limit, not a bug: no crash log, the likely cause named
        if _tracebacks():
            traceback.print_exc()
        click.echo(f"error: out of memory ({exc or 'MemoryError'}): this host cannot hold what the command "
                   "needed\n  help: a production shape may be larger than this host can build or run: "
                   "`planctl plan PLAN --target T` lists the shape buckets apply builds; lower "
                   "production_shapes' max, or run on a host with more memory", err=True)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into exit 3
        if _tracebacks():
            traceback.print_exc()
        path = _write_crash_log(exc)
        click.echo(f"planctl: internal error: {type(exc).__name__}: {exc}\n"
                   f"  a log with versions and the traceback is at {path}\n"
                   "  please attach it to a bug report", err=True)
        return EXIT_INTERNAL
