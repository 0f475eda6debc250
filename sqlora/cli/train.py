"""``sqlora train`` and ``sqlora merge``: QLoRA fine-tuning and adapter merging.

``train``'s flags are made from :class:`sqlora.training.config.TrainConfig`'s fields (``--lora-r`` for
``lora_r``), so the YAML keys, the flags and the saved config never drift apart.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import types
import typing
from pathlib import Path

import typer

from sqlora.cli.app import app, console, fail
from sqlora.models.shipped import resolve_adapter
from sqlora.training.config import TrainConfig

# Short forms of the most used flags; every other field is --field-name.
FLAG_NAMES = {"data": ["--data", "-d"], "output": ["--output", "-o"], "model": ["--model", "-m"]}
FLAG_NAMES["learning_rate"] = ["--lr", "--learning-rate"]
LIST_FIELDS_REPEATED = {"data"}  # other list fields take one comma-separated value
YAML_ONLY = {"token_weights"}


def _flag_type(annotation: str) -> type:
    """The command-line type of a field annotation (dataclass annotations are strings here)."""
    hint = typing.get_type_hints(TrainConfig)[annotation]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = args[0] if len(args) == 1 else str
    if typing.get_origin(hint) is list:
        hint = str
    return hint


def _parameters() -> list[inspect.Parameter]:
    config = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(None, "--config", "-c", help="YAML config; flags override it."),
        annotation=Path | None,
    )
    parameters = [config]
    for spec in dataclasses.fields(TrainConfig):
        if spec.name in YAML_ONLY:
            continue
        names = FLAG_NAMES.get(spec.name, ["--" + spec.name.replace("_", "-")])
        kind = _flag_type(spec.name)
        help_text = spec.metadata.get("help", "")
        if spec.metadata.get("choices"):
            help_text += f" One of: {', '.join(spec.metadata['choices'])}."
        if kind is bool:
            names = [f"{names[0]}/--no-{names[0][2:]}"]
        annotation = list[str] | None if spec.name in LIST_FIELDS_REPEATED else kind | None
        default = typer.Option(None, *names, help=help_text, show_default=False)
        parameters.append(
            inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )
    return parameters


def _as_config_value(name: str, value):
    """A flag's value as the config field holds it (comma-separated lists split, one --data unwrapped)."""
    if name in LIST_FIELDS_REPEATED:
        return value[0] if len(value) == 1 else list(value)
    hint = typing.get_type_hints(TrainConfig)[name]
    if list in (typing.get_origin(hint), *map(typing.get_origin, typing.get_args(hint))):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def load_train_config(config: Path | None, flags: dict) -> TrainConfig:
    """The run's configuration: the YAML file (if any), then the flags given on the command line."""
    overrides = {name: _as_config_value(name, value) for name, value in flags.items() if value is not None}
    if config is not None and not config.is_file():
        raise ValueError(f"config file {config} not found")
    return TrainConfig.from_yaml(config, **overrides) if config else TrainConfig.from_dict(overrides)


def train(config: Path | None = None, **flags) -> None:
    """Fine-tune a base model with QLoRA (the article's recipe by default)."""
    from sqlora.training import train as run

    try:
        cfg = load_train_config(config, flags)
    except (OSError, ValueError, TypeError) as err:
        fail(f"bad configuration: {err}")
    if not cfg.data:
        fail("give training data with --data (a .jsonl file, a Spider folder or a hub id)")
    if cfg.init_adapter and not (Path(resolve_adapter(cfg.init_adapter)) / "adapter_config.json").is_file():
        fail(f"--init-adapter {cfg.init_adapter} is not an adapter directory (no adapter_config.json)")
    for engine, path in (("--deepspeed", cfg.deepspeed), ("--fsdp", cfg.fsdp)):
        if path and not Path(path).is_file():
            fail(f"{engine} config {path} not found (shipped ones are in configs/deepspeed/ and configs/fsdp/)")
    if cfg.deepspeed and importlib.util.find_spec("deepspeed") is None:
        fail("--deepspeed needs DeepSpeed: pip install 'sqlora[distributed]'")
    summary = run(cfg)
    shown = {k: v for k, v in summary.items() if k != "history"}
    print(json.dumps(shown, indent=2))
    console.print(f"adapter written to [bold]{cfg.output}[/]")


train.__signature__ = inspect.Signature(_parameters())
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}
app.command()(train)


@app.command()
def merge(
    adapter: str = typer.Argument(..., help="Adapter directory written by sqlora train."),
    output: str = typer.Option(..., "--output", "-o", help="Where to write the merged model."),
    base_model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: from the adapter)."),
) -> None:
    """Fold a LoRA adapter into its base model (safetensors; loads with plain transformers)."""
    from sqlora.training.merge import merge_adapter

    if not (Path(adapter) / "adapter_config.json").exists():
        fail(f"{adapter} is not an adapter directory (no adapter_config.json)")
    path = merge_adapter(adapter, output, base_model)
    console.print(f"merged model written to [bold]{path}[/]")
