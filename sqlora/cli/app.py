"""The typer application that every command module registers on, and its one error boundary.

Every expected failure of a command (bad data, a missing model or adapter, a database that cannot be reached, SQL
that does not parse, no network) ends as one line ``error: <what> (<where>)`` on stderr and exit code 2; the
mapping from exception types to messages lives in :mod:`sqlora.cli.errors`. ``--debug`` (or ``SQLORA_DEBUG=1``)
lets the traceback through instead.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer._click import Context
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer._click.globals import get_current_context
from typer.core import TyperGroup

console = Console(stderr=True)
"""Diagnostics go to stderr; results go to stdout (``typer.echo`` or :data:`out`)."""
out = Console()


def show_rows(result: Any) -> None:
    """A query result as a table on stdout, with its row count and time on stderr."""
    from rich.table import Table

    table = Table(*[escape(str(c)) for c in result.columns])
    for row in result.rows:
        table.add_row(*[escape(str(v)) for v in row])
    out.print(table)
    more = " (truncated)" if result.truncated else ""
    console.print(f"{len(result.rows)} rows{more} in {result.elapsed_s:.3f} s")


EXIT_ERROR = 2
"""Exit code of every expected failure (bad input, unreachable database, missing model ...)."""
EXIT_UNUSABLE = 1
"""Exit code of a command that ran but whose answer is not usable (``ask``: invalid SQL, or the query failed)."""

DEBUG_KEY = "sqlora.debug"


def print_error(message: str) -> None:
    """``error: <message>`` as one line on stderr (newlines folded, never wrapped)."""
    from sqlora.cli.errors import TOKEN_REPR

    line = TOKEN_REPR.sub(lambda m: repr(m.group(1)), " ".join(str(message).split())) or "unknown error"
    console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True, highlight=False)


def fail(message: str, code: int = EXIT_ERROR) -> None:
    """Print a clear one-line error and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


def debug_enabled(ctx: Context | None = None) -> bool:
    """Whether tracebacks should be shown (``--debug`` or ``SQLORA_DEBUG=1``); default: the running command's."""
    ctx = ctx or get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(DEBUG_KEY):
        return True
    return os.environ.get("SQLORA_DEBUG", "").lower() in ("1", "true", "yes", "on")


class SqloraGroup(TyperGroup):
    """The root command group: turns expected exceptions and usage errors into one ``error:`` line."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except Exception as err:
            from sqlora.cli.errors import describe

            message = describe(err, ctx)
            if message is None or debug_enabled(ctx):
                raise
            print_error(message)
            raise typer.Exit(EXIT_ERROR) from err

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as err:
            if not standalone_mode:
                raise
            typer.echo(err.ctx.get_help() if err.ctx else "", err=True)
            sys.exit(EXIT_ERROR)
        except ClickException as err:
            if not standalone_mode:
                raise
            hint = f" (see {err.ctx.command_path} --help)" if getattr(err, "ctx", None) is not None else ""
            print_error(err.format_message() + hint)
            sys.exit(err.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            print_error("aborted")
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="sqlora",
    cls=SqloraGroup,
    help="Fine-tune LLMs for text-to-SQL with QLoRA and run them against real databases.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def quiet_libraries(progress: bool) -> None:
    """No weight-loading or download progress bars from transformers / huggingface_hub unless ``progress``, and
    none of the libraries' notes a user cannot act on (optional kernels, internal deprecations)."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "0" if progress else "1"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # "pip install kernels" for a faster CPU 4-bit matmul
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

        (enable_progress_bars if progress else disable_progress_bars)()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        (hf_logging.enable_progress_bar if progress else hf_logging.disable_progress_bar)()


@app.callback()
def root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", envvar="SQLORA_DEBUG", help="Show tracebacks of failures."),
    progress: bool = typer.Option(False, "--progress", help="Show the libraries' loading/download progress bars."),
) -> None:
    """Fine-tune LLMs for text-to-SQL with QLoRA and run them against real databases."""
    ctx.meta[DEBUG_KEY] = debug
    quiet_libraries(progress)


PRECISION_HELP = (
    "Weights to decode with: nf4 (4-bit base, least memory), fp32, bf16 or fp16 (a QLoRA adapter folded into its"
    " dequantized NF4 weights). Default: nf4 for a QLoRA adapter, else fp32 on CPU, bf16/fp16 on GPU."
)


def precision_option():
    """The ``--precision`` option shared by the commands that load a model to answer questions."""
    return typer.Option(None, "--precision", help=PRECISION_HELP)


def answering_adapter_option():
    """The ``--adapter`` option of the commands that answer questions (ask, serve, mcp)."""
    return typer.Option(
        None,
        "--adapter",
        "-a",
        help="A trained LoRA adapter directory (default on the embedded model: the adapter shipped with sqlora).",
    )


def base_option():
    """The ``--base`` flag: answer with the raw base model instead of the shipped adapter."""
    return typer.Option(False, "--base", help="Answer with the raw base model, without the shipped adapter.")


def constrained_option():
    """The ``--constrained`` flag: greedy decoding held to a SQL grammar over the question's schema."""
    return typer.Option(
        False,
        "--constrained",
        help="Decode under a SQL grammar whose table and column names are the schema's (greedy answers; needs"
        " the constrained extra: llguidance).",
    )


def check_constrained(constrained: bool) -> None:
    """Fail clearly when --constrained is asked for without llguidance installed."""
    if not constrained:
        return
    import importlib.util

    if importlib.util.find_spec("llguidance") is None:
        fail("--constrained needs llguidance: pip install 'sqlora[constrained]'")


def check_precision(precision: str | None) -> None:
    """Fail clearly on a precision the loader does not know."""
    from sqlora.models.loading import PRECISION_NAMES

    if precision is not None and precision not in PRECISION_NAMES:
        fail(f"unknown --precision '{precision}' (use {', '.join(PRECISION_NAMES)})")
