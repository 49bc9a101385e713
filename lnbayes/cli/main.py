"""The ``lnbayes`` command line: the app, its one error handler, and the commands' registration.

Each command lives in its own module of :mod:`lnbayes.cli` (a thin typer wrapper: parse the
arguments, call one function, print); the options and checks they share are in
:mod:`lnbayes.cli.options`. Heavy libraries (pymc, arviz, matplotlib) are imported inside the functions that need them, so
``lnbayes --help`` answers at once.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from lnbayes.errors import LnbayesError, Terminated

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
FEW_CORES = 4


def _limit_blas_threads() -> None:
    """One BLAS thread on machines with few cores, unless the user set the variables.

    lnbayes's exact computations are many small vector operations; on a 2-core machine BLAS
    threads fight over the cores (and with nutpie's chains) and slowed the RD and log-RR sweeps
    2 to 3 times. The variables must be set before NumPy is first imported, which the CLI
    does only inside its commands.
    """
    if (os.cpu_count() or 1) <= FEW_CORES:
        for name in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(name, "1")


_limit_blas_threads()

class LnbayesGroup(TyperGroup):
    """The command group with lnbayes's one error handler.

    * :class:`LnbayesError` (bad input): one line per problem on stderr, exit status 2;
    * Ctrl-C: ``interrupted`` and exit status 130; SIGTERM: exit status 143 (a handler turns
      SIGTERM into :class:`lnbayes.errors.Terminated`, so the same clean-up runs; the handlers
      of :mod:`lnbayes.io.stops` also remember the signal, so that it stops the command even
      where Python dropped the exception);
    * anything else: ``internal error: ... (run with --debug for the traceback)``, exit status 1;
      with ``--debug`` (anywhere on the command line) or ``LNBAYES_DEBUG=1`` the traceback is
      printed too.
    """

    debug = False

    def main(self, args=None, *pos, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        self.debug = "--debug" in args or bool(os.environ.get("LNBAYES_DEBUG"))
        args = [a for a in args if a != "--debug"]
        return super().main(args, *pos, **kwargs)

    def invoke(self, ctx):
        from lnbayes.io import stops

        restore = stops.install(debug=self.debug)
        try:
            value = super().invoke(ctx)
            stops.check()  # a signal whose exception Python dropped on the way (io.stops)
            return value
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except LnbayesError as err:
            for line in err.problems:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except Terminated:
            typer.echo("terminated (SIGTERM): stopped; what was completed is saved", err=True)
            raise typer.Exit(EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: stopped; what was completed is saved", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as err:  # noqa: BLE001 - the one place that turns bugs into one line
            if self.debug:
                traceback.print_exc()
            detail = " ".join(str(err).split())[:300]
            typer.echo(f"internal error: {type(err).__name__}: {detail} "
                       "(run with --debug for the traceback)", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None
        finally:
            restore()


app = typer.Typer(
    cls=LnbayesGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Bayesian sensitivity analysis of small two-arm trials with a binary outcome.",
)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error, print the Python traceback (accepted anywhere on the command line).")] = False,
) -> None:
    """Bayesian sensitivity analysis of small two-arm trials with a binary outcome."""


from lnbayes.cli import analyze, explore, planning, plot, priors, report, sweep, validate  # noqa: E402
from lnbayes.cli.options import (  # noqa: E402
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
)

for _command in (analyze.analyze, validate.validate, report.report, planning.predict,
                 planning.design, plot.plot, sweep.sweep, priors.priors, explore.explore):
    app.command()(_command)


def main() -> None:  # pragma: no cover - console script entry point
    app(prog_name="lnbayes")
