"""Periodic execution-accuracy sample during training, scored on real Spider databases."""

import json

from sqlora.training import TrainConfig, train


def test_eval_ex_sample_is_logged(tmp_path, tiny_model_dir, sql_create_context_path, spider_dir):
    rows = [json.loads(line) for line in sql_create_context_path.read_text().splitlines()]
    train_rows = [r for r in rows if r["db_id"] == "department_management"][:16]
    eval_rows = [r for r in rows if r["db_id"] not in (None, "department_management")][:3]
    assert len(eval_rows) == 3
    train_file, eval_file = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    train_file.write_text("\n".join(json.dumps(r) for r in train_rows))
    eval_file.write_text("\n".join(json.dumps(r) for r in eval_rows))
    config = TrainConfig(
        data=str(train_file),
        eval_data=str(eval_file),
        db_dir=str(spider_dir / "database"),
        model=str(tiny_model_dir),
        max_steps=2,
        batch_size=2,
        grad_accum=1,
        eval_steps=1,
        eval_ex_samples=3,
        save_steps=0,
        output=str(tmp_path / "run"),
    )
    summary = train(config)
    scores = [h["eval_ex"] for h in summary["history"] if "eval_ex" in h]
    assert len(scores) == 2
    assert all(0.0 <= s <= 1.0 for s in scores)
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert sum("eval_ex" in record for record in logged) == 2
