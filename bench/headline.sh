#!/usr/bin/env bash
# The headline run: QLoRA on the embedded SmolLM2-135M-Instruct (CPU), evaluated on databases it never saw.
# Held-out databases are the demo's (sqlora/cli/demo.py HOLDOUT_DBS, picked by hash of the name); the recipe
# and how it differs from the article's defaults is in bench/headline.yaml. Decoding settings are chosen by
# bench/decoding.py on the run's own validation databases, not on these rows. Results: docs/results.md.
# Writes bench/results/headline_*.json, *.md and plots. About 75-90 min of training + 45 min evaluation on 2 cores.
# Another recipe: CONFIG=bench/headline_lora.yaml RUN=runs/headline_lora OUT=bench/results/headline_lora bash bench/headline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SQLORA=.venv/bin/sqlora
HOLDOUT=$(.venv/bin/python -c "from sqlora.cli.demo import HOLDOUT_DBS; print(','.join(HOLDOUT_DBS))")
DATA=../shared/data
DECODE=${DECODE:-""}  # greedy + name repair; the tuned model runs on its 4-bit base (its sqlora.json says quantized)
CONFIG=${CONFIG:-bench/headline.yaml}
RUN=${RUN:-runs/headline}
OUT=${OUT:-bench/results/headline}  # report prefix: ${OUT}_sqlcc.json, ${OUT}_spider.json and their folders

if [ ! -f "$RUN/adapter_model.safetensors" ]; then
  $SQLORA train --config "$CONFIG"
fi

# 1) sql-create-context format (pruned CREATE TABLE context), EX on the real Spider databases
$SQLORA eval --data $DATA/sql-create-context/train.jsonl --db-dir $DATA/spider/database \
  --holdout-dbs $HOLDOUT --limit "${LIMIT_SQLCC:-100}" --seed 0 --adapter "$RUN" --compare $DECODE \
  --json "${OUT}_sqlcc.json" --report-dir "${OUT}_sqlcc"

# 1b) the tuned model with execution-guided selection among 4 beam candidates
$SQLORA eval --data $DATA/sql-create-context/train.jsonl --db-dir $DATA/spider/database \
  --holdout-dbs $HOLDOUT --limit "${LIMIT_SQLCC:-100}" --seed 0 --adapter "$RUN" $DECODE --candidates 4 \
  --json "${OUT}_sqlcc_beam4.json"

# 1d) bf16 (adapter folded into its dequantized NF4 weights) with 8 execution-guided beams
$SQLORA eval --data $DATA/sql-create-context/train.jsonl --db-dir $DATA/spider/database \
  --holdout-dbs $HOLDOUT --limit "${LIMIT_SQLCC:-100}" --seed 0 --adapter "$RUN" --precision bf16 --candidates 8 \
  --json "${OUT}_sqlcc_bf16_beam8.json"

# 1c) the tuned model as it writes, without name repair (what the repair adds)
$SQLORA eval --data $DATA/sql-create-context/train.jsonl --db-dir $DATA/spider/database \
  --holdout-dbs $HOLDOUT --limit "${LIMIT_SQLCC:-100}" --seed 0 --adapter "$RUN" --no-repair \
  --json "${OUT}_sqlcc_no_repair.json"

# 2) the same databases' Spider questions with the full database schema as context
$SQLORA eval --data $DATA/spider --holdout-dbs $HOLDOUT --limit "${LIMIT_SPIDER:-40}" --seed 0 \
  --adapter "$RUN" --compare $DECODE \
  --json "${OUT}_spider.json" --report-dir "${OUT}_spider"

# 2b) the same questions with the schema pruned to the tables the question names (schema linking, no gold)
$SQLORA eval --data $DATA/spider --spider-schema question --holdout-dbs $HOLDOUT --limit "${LIMIT_SPIDER:-40}" \
  --seed 0 --adapter "$RUN" --compare $DECODE --json "${OUT}_spider_linked.json"

# 3) latency with and without the stop rules, base and tuned (what the article's "3x faster" compares)
.venv/bin/python bench/latency.py --adapter "$RUN" --output "${OUT}_latency.json"
