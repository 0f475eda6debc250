"""Blend two LoRA adapters of one base model: (1 - w) x the first's update + w x the second's, exactly.

    python bench/adapter_blend.py runs/headline_shuf runs/stage2_300 --weight 0.75 --output runs/blend75

PEFT's ``add_weighted_adapter(..., combination_type="cat")`` stacks the two adapters' low-rank factors into one
adapter of rank r1 + r2 whose update is the weighted sum of theirs (no approximation). Between an adapter and a
second stage trained from it this interpolates the weights (WiSE-FT): the second stage's gain on what it was
trained for, with less of its loss elsewhere. The result is an ordinary adapter directory (with the first
adapter's ``sqlora.json`` and the second's ``train_config.yaml``) for ``sqlora eval/ask --adapter`` and
``bench/ship_adapter.py``; ``--rank R`` folds it into one rank-R adapter instead (PEFT's SVD combination, an
approximation). Results: docs/results.md, "The second
stage to its decayed end, and blended into the headline adapter".
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sqlora.constants import ADAPTER_META
from sqlora.inference.generator import adapter_metadata
from sqlora.models.shipped import resolve_adapter


def blend(first: str, second: str, weight: float, output: Path, rank: int | None = None) -> None:
    from peft import PeftModel

    from sqlora.models.loading import load_model

    first_dir, second_dir = Path(resolve_adapter(first)), Path(resolve_adapter(second))
    base = load_model(adapter_metadata(str(first_dir)).get("base_model"), device="cpu")
    model = PeftModel.from_pretrained(base, str(first_dir), adapter_name="first")
    model.load_adapter(str(second_dir), adapter_name="second")
    if rank is None:
        model.add_weighted_adapter(["first", "second"], [1 - weight, weight], "blend", combination_type="cat")
    else:  # the weighted sum of the two updates, cut to its best rank-`rank` approximation (SVD)
        model.add_weighted_adapter(
            ["first", "second"], [1 - weight, weight], "blend", combination_type="svd", svd_rank=rank
        )
    model.save_pretrained(str(output), selected_adapters=["blend"])
    saved = output / "blend"  # PEFT writes a non-default adapter to a subfolder
    for path in saved.iterdir():
        shutil.move(str(path), output / path.name)
    saved.rmdir()
    shutil.copy(first_dir / ADAPTER_META, output / ADAPTER_META)
    if (second_dir / "train_config.yaml").is_file():  # the recipe's last training, for bench/ship_adapter.py
        shutil.copy(second_dir / "train_config.yaml", output / "train_config.yaml")
    print(f"blended {first_dir} x {1 - weight:g} + {second_dir} x {weight:g} -> {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", help="adapter directory, or 'shipped'")
    parser.add_argument("second", help="adapter directory of the same base model")
    parser.add_argument("--weight", type=float, default=0.5, help="weight of the second adapter, 0 to 1")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rank", type=int, help="fold the blend into one adapter of this rank (SVD, approximate)")
    args = parser.parse_args()
    if not 0.0 <= args.weight <= 1.0:
        parser.error("--weight is between 0 and 1")
    for adapter in (args.first, args.second):
        if not (Path(resolve_adapter(adapter)) / "adapter_config.json").is_file():
            parser.error(f"{adapter}: not an adapter directory (no adapter_config.json)")
    if args.output.exists() and any(args.output.iterdir()):
        parser.error(f"{args.output}: exists and is not empty")
    blend(args.first, args.second, args.weight, args.output, args.rank)


if __name__ == "__main__":
    main()
