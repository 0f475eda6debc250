"""``SQLTrainer``: transformers' Trainer with sqlora's loss and batches.

The Trainer does devices and processes (DDP, DeepSpeed, FSDP), mixed precision with loss scaling, gradient
accumulation, checkpoints with every RNG, resume, early stopping and logging. sqlora adds the answer-only,
SQL-weighted loss computed on the answer positions' logits alone, and length-grouped batches that replay
exactly after a resume.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Trainer

from sqlora.training.loss import answer_loss, logits_needed
from sqlora.training.sampler import EpochLengthGroupedSampler


def lora_weights(state_dict: dict[str, torch.Tensor], adapter: str = "default") -> dict[str, torch.Tensor]:
    """The LoRA weights of a model's full state dict, keyed as in PEFT's ``adapter_model.safetensors``."""
    marker = f".{adapter}."
    return {key.replace(marker, "."): value for key, value in state_dict.items() if ".lora_" in key and marker in key}


def load_lora_weights(wrapped, path: Path, adapter: str = "default") -> None:
    """Load an ``adapter_model.safetensors`` into an FSDP-wrapped PEFT model (each FSDP unit gathered in turn)."""
    from safetensors.torch import load_file
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import StateDictType

    def model_key(key: str) -> str:
        parts = key.split(".")
        at = next(i for i, part in enumerate(parts) if part.startswith("lora_"))
        return ".".join([*parts[: at + 1], adapter, *parts[at + 1 :]])

    weights = {model_key(key): value for key, value in load_file(str(path)).items()}
    with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT):
        result = wrapped.load_state_dict(weights, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{path}: weights the model does not have: {', '.join(result.unexpected_keys[:3])}")


class SQLTrainer(Trainer):
    """A Trainer whose loss is sqlora's and whose training order is length-grouped by (seed, epoch)."""

    loss_is_scaled_for_ga = False  # compute_loss returns a per-micro-batch mean; the Trainer divides by grad_accum

    def __init__(self, *args, length_grouping: bool = True, lengths: list[int] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.length_grouping = length_grouping
        self.lengths = lengths
        self.model_accepts_loss_kwargs = False

    def _get_train_sampler(self, train_dataset=None):
        if not self.length_grouping:
            return super()._get_train_sampler(train_dataset)
        return EpochLengthGroupedSampler(self.args.train_batch_size, self.lengths, self.args.seed)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        from peft.helpers import disable_input_dtype_casting

        labels, weights = inputs["labels"], inputs["weights"]
        autocast = self.args.bf16 or self.args.fp16
        # Under autocast, LoRA layers need not copy their input to the adapter's fp32 (nor keep an fp32 dropout mask).
        with disable_input_dtype_casting(self.accelerator.unwrap_model(model), active=autocast):
            outputs = model(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                position_ids=inputs["position_ids"],
                logits_to_keep=logits_needed(labels),
                use_cache=False,
            )
        loss, _ = answer_loss(outputs.logits, labels, weights)
        return (loss, outputs) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.is_fsdp_enabled and state_dict is not None and self.args.should_save:
            # PEFT 0.21 finds adapter weights by module name, and FSDP's auto-wrap puts '_fsdp_wrapped_module.' inside
            # the names, so PEFT writes an empty adapter: write it from the gathered state dict instead.
            from safetensors.torch import save_file

            target = Path(output_dir or self.args.output_dir) / "adapter_model.safetensors"
            weights = {key: value.contiguous() for key, value in lora_weights(state_dict).items()}
            save_file(weights, str(target), metadata={"format": "pt"})

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        if self.is_fsdp_enabled:
            # The Trainer's FSDP checkpoint goes through the same PEFT name lookup and holds no adapter weights:
            # take them from the adapter file that _save wrote into the checkpoint.
            load_lora_weights(model or self.model_wrapped, Path(resume_from_checkpoint) / "adapter_model.safetensors")
