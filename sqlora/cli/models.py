"""``sqlora info``: a model's size and memory footprint in fp32 and in 4-bit NF4."""

from __future__ import annotations

import json
import time

import typer

from sqlora.cli.app import app, console
from sqlora.cli.checks import check_model


@app.command()
def info(
    model: str | None = typer.Option(None, "--model", "-m", help="Hub id, local directory or 'embedded'."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Parameters and measured memory footprint of a model in fp32 and in 4-bit NF4."""
    from sqlora.models.loading import load_model, resolve_model

    check_model(model)
    report: dict = {"model": resolve_model(model)}
    for label, quantize in (("fp32", False), ("nf4", True)):
        started = time.perf_counter()
        loaded = load_model(model, quantize=quantize, device="cpu" if not quantize else None)
        report[f"{label}_load_s"] = round(time.perf_counter() - started, 2)
        report[f"{label}_bytes"] = loaded.get_memory_footprint()
        if label == "fp32":
            report["parameters"] = sum(p.numel() for p in loaded.parameters())
        del loaded
    report["nf4_vs_fp32"] = round(report["nf4_bytes"] / report["fp32_bytes"], 3)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console.print(f"[bold]{report['model']}[/]")
    console.print(f"parameters      {report['parameters']:,}")
    console.print(f"fp32 footprint  {report['fp32_bytes'] / 2**20:,.1f} MiB (load {report['fp32_load_s']} s)")
    console.print(f"nf4 footprint   {report['nf4_bytes'] / 2**20:,.1f} MiB (load {report['nf4_load_s']} s)")
