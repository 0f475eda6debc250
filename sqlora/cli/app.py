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
