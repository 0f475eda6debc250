"""Training configuration: one dataclass, the article's recipe as defaults.

YAML keys, ``sqlora train`` flags and the saved ``train_config.yaml`` all come from :class:`TrainConfig`'s
fields (their ``metadata`` holds the flag help and the allowed choices), so an option is added in one place.
:func:`sqlora.training.arguments.training_arguments` maps it onto transformers' ``TrainingArguments``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sqlora.constants import SPIDER_SCHEMAS


@dataclass
class TokenWeights:
    """Loss weights for answer tokens by SQL role (the article's 'custom loss')."""

    keyword: float = 1.0
    identifier: float = 1.0
    operator: float = 1.0
    literal: float = 1.0
    other: float = 1.0

    @property
    def uniform(self) -> bool:
        return all(v == 1.0 for v in dataclasses.asdict(self).values())


SQL_TOKEN_WEIGHTS = {"keyword": 2.0, "identifier": 2.0, "operator": 1.5, "literal": 2.0, "other": 1.0}


def option(default: Any = None, help: str = "", choices: tuple[str, ...] | None = None, **kwargs) -> Any:
    """A config field with its command-line help and, for a closed set of values, its choices."""
    metadata = {"help": help, "choices": choices}
    if callable(default):
        return field(default_factory=default, metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


@dataclass
class TrainConfig:
    """Every knob of a run. Defaults follow the article, with the embedded model offline."""

    # data
    data: str | list[str] = option("", "Training data: file, Spider folder or hub id (repeat to combine).")
    spider_schema: str | list[str] = option(
        "full",
        "Spider folders: full database schemas, 'gold' (pruned to the gold query), 'question' (linked to the"
        " question) or 'question+gold' (linked, plus what the gold query uses); several (comma-separated) give"
        " each question once per distinct context.",
        choices=SPIDER_SCHEMAS,
    )
    eval_data: str | None = option(None, "Validation data (default: validation_fraction of the databases).")
    db_dir: str | None = option(None, "Folder of <db_id>/<db_id>.sqlite databases (execution-accuracy samples).")
    holdout_dbs: list[str] = option(lambda: [], "db_ids kept out of training and validation (comma-separated).")
    validation_fraction: float = option(0.05, "Share of databases cut for validation.")
    max_examples: int | None = option(None, "Train on at most this many rows.")
    max_length: int = option(512, "Longest example in tokens; longer ones are dropped and counted.")
    prompt_style: str = option("article", "Prompt template.", choices=("article", "chat"))
    # method
    method: str = option(
        "sft",
        "sft: supervised (answer-only loss); grpo: reinforcement learning with an execution reward (TRL's GRPO),"
        " usually from an SFT adapter (--init-adapter); rows need a database (db_id + --db-dir).",
        choices=("sft", "grpo"),
    )
    num_generations: int = option(4, "GRPO: answers sampled per question (the group).")
    max_completion_length: int = option(128, "GRPO: longest sampled answer in tokens.")
    temperature: float = option(1.0, "GRPO: sampling temperature.")
    # model
    model: str | None = option(None, "Base model: hub id or folder (default: the embedded SmolLM2-135M).")
    init_adapter: str | None = option(
        None, "Start from this adapter's LoRA weights instead of fresh ones ('shipped': the adapter sqlora ships)."
    )
    quantize: bool = option(True, "4-bit NF4 + double quantization (QLoRA); off: plain LoRA on float weights.")
    lora_r: int = option(16, "LoRA rank.")
    lora_alpha: int = option(32, "LoRA alpha.")
    lora_dropout: float = option(0.1, "LoRA dropout.")
    target_modules: list[str] = option(
        lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], "Modules that get adapters (comma-separated)."
    )
    # optimization
    epochs: float = option(3.0, "Training epochs.")
    max_steps: int | None = option(None, "Stop after this many optimizer steps (overrides epochs).")
    max_minutes: float | None = option(
        None, "Stop after this many minutes of training, at the end of a step; the adapter is saved as it is then."
    )
    batch_size: int = option(4, "Per-device micro-batch size (article: 4).")
    grad_accum: int = option(4, "Gradient accumulation steps (article: 4).")
    learning_rate: float = option(2e-4, "Peak learning rate (linear decay).")
    warmup_steps: int = option(100, "Warmup steps (capped at the run's total steps).")
    weight_decay: float = option(0.0, "AdamW weight decay.")
    max_grad_norm: float = option(1.0, "Gradient-norm clip (0: none).")
    mixed_precision: str = option(
        "auto",
        "auto: bf16 where the hardware has it natively (GPUs from Ampere on, CPUs with AVX512-BF16/AMX), fp16 on"
        " older GPUs, fp32 (no) elsewhere. The 4-bit compute dtype follows it.",
        choices=("auto", "no", "fp16", "bf16"),
    )
    gradient_checkpointing: str = option(
        "auto", "auto: on for models over 1B parameters on GPU (non-reentrant).", choices=("auto", "on", "off")
    )
    length_grouping: bool = option(True, "Batch rows of similar length together (less padding).")
    release_memory: bool = option(
        False,
        "CPU: give freed activation memory back to the OS (own mappings for large buffers, heap trimmed every"
        " micro-batch): a lower peak RSS for 8-40 % less speed.",
    )
    token_weights: TokenWeights = option(
        lambda: TokenWeights(**SQL_TOKEN_WEIGHTS), "Loss weight per SQL token role (YAML mapping)."
    )
    # engines past one device (see docs/training.md)
    deepspeed: str | None = option(None, "DeepSpeed JSON config (configs/deepspeed/zero2.json, zero3.json).")
    fsdp: str | None = option(None, "FSDP config YAML with transformers' fsdp_config keys (configs/fsdp/qlora.yaml).")
    # bookkeeping
    output: str = option("outputs/run", "Run directory (adapter, logs, checkpoints).")
    logging_steps: int = option(10, "Log every N steps.")
    save_steps: int = option(500, "Checkpoint every N steps (0: none).")
    eval_steps: int = option(500, "Validate every N steps (0: none).")
    eval_ex_samples: int = option(0, "Validation rows scored by execution accuracy at each validation.")
    early_stopping_patience: int | None = option(None, "Stop after N validations without a better loss.")
    save_total_limit: int = option(2, "Checkpoints kept.")
    report_to: list[str] = option(lambda: ["tensorboard"], "Loggers (transformers' report_to; 'none' for none).")
    seed: int = option(42, "Random seed.")
    resume: bool = option(False, "Continue from the newest checkpoint in the output directory.")
    threads: int | None = option(None, "CPU threads per process (default: the cores not busy with other work).")

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            choices = spec.metadata.get("choices")
            value = getattr(self, spec.name)
            for item in value if isinstance(value, list) else [value]:
                if choices and item not in choices:
                    raise ValueError(f"{spec.name} must be one of {', '.join(choices)}, not {item!r}")
        if not self.spider_schemas:
            raise ValueError("spider_schema needs at least one mode")
        for name in ("batch_size", "grad_accum", "lora_r", "max_length", "num_generations", "max_completion_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, not {self.max_minutes}")
        if self.deepspeed and self.fsdp:
            raise ValueError("choose one engine: deepspeed or fsdp, not both")
        if self.method == "grpo" and (self.batch_size * self.grad_accum) % self.num_generations:
            raise ValueError(
                f"grpo: batch_size x grad_accum ({self.batch_size * self.grad_accum}) must be a multiple of"
                f" num_generations ({self.num_generations})"
            )

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        values = dict(values)
        if isinstance(values.get("token_weights"), dict):
            values["token_weights"] = TokenWeights(**values["token_weights"])
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> TrainConfig:
        values = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path} is not a YAML mapping of config keys")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    @property
    def data_sources(self) -> list[str]:
        return [self.data] if isinstance(self.data, str) else list(self.data)

    @property
    def spider_schemas(self) -> list[str]:
        return [self.spider_schema] if isinstance(self.spider_schema, str) else list(self.spider_schema)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
