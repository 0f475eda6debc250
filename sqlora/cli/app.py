"""The typer application that every command module registers on."""

import typer
from rich.console import Console

app = typer.Typer(
    name="sqlora",
    help="Fine-tune LLMs for text-to-SQL with QLoRA and run them against real databases.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print a clear error and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


PRECISION_HELP = (
    "Weights to decode with: nf4 (4-bit base, least memory), fp32, bf16 or fp16 (a QLoRA adapter folded into its"
    " dequantized NF4 weights). Default: nf4 for a QLoRA adapter, else fp32 on CPU, bf16/fp16 on GPU."
)


def precision_option():
    """The ``--precision`` option shared by the commands that load a model to answer questions."""
    return typer.Option(None, "--precision", help=PRECISION_HELP)


def check_precision(precision: str | None) -> None:
    """Fail clearly on a precision the loader does not know."""
    from sqlora.models.loading import PRECISION_NAMES

    if precision is not None and precision not in PRECISION_NAMES:
        fail(f"unknown --precision '{precision}' (use {', '.join(PRECISION_NAMES)})")
