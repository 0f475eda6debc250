"""``sqlora export-gguf``: write a merged model as one GGUF file (f16 or f32) for llama.cpp-style runtimes."""

from __future__ import annotations

from pathlib import Path

import typer

from sqlora.cli.app import app, console, fail


@app.command("export-gguf")
def export_gguf(
    model_dir: Path = typer.Argument(..., help="A merged Llama-architecture model directory (sqlora merge)."),  # noqa: B008
    output: Path = typer.Option(..., "--output", "-o", help="The .gguf file to write."),  # noqa: B008
    dtype: str = typer.Option("f16", help="f16 or f32 for the weight matrices (norms stay f32)."),
    tokenizer_pre: str = typer.Option("default", help="tokenizer.ggml.pre for llama.cpp (e.g. smollm, qwen2)."),
) -> None:
    """Export a merged model to GGUF."""
    from sqlora.training.gguf_export import FILE_TYPES
    from sqlora.training.gguf_export import export_gguf as run

    if not (model_dir / "config.json").exists():
        fail(f"{model_dir} is not a model directory (no config.json); merge the adapter first: sqlora merge")
    if dtype not in FILE_TYPES:
        fail(f"--dtype must be one of {', '.join(FILE_TYPES)}")
    try:
        path = run(model_dir, output, dtype=dtype, tokenizer_pre=tokenizer_pre)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    console.print(f"GGUF written to [bold]{path}[/] ({path.stat().st_size / 2**20:.1f} MiB)")
