"""Serving benchmark: latency and throughput of ``sqlora serve`` under concurrent clients, batching on vs off.

Starts ``sqlora serve`` on 127.0.0.1 (embedded model by default) once per batching mode, sends a bounded
number of ``POST /v1/sql`` requests (Spider questions, ``execute: true``) from N concurrent asyncio+httpx
clients per concurrency level, prints a table and writes ``bench/results/serve_bench.json``.

    .venv/bin/python bench/serve_bench.py                      # embedded model, levels 1 4 8, 16 requests each
    .venv/bin/python bench/serve_bench.py --model PATH --adapter DIR --requests 32 --levels 1 8 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "data" / "spider"
DEFAULT_DB = "musical"
FALLBACK_QUESTIONS = [
    "How many actors are there?",
    "List the names of all musicals.",
    "What is the oldest actor's age?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spider_questions(db_id: str, limit: int = 40) -> list[str]:
    """Questions written for ``db_id`` in Spider's training set (a fixed fallback without the data)."""
    path = SPIDER / "train_spider.jsonl"
    if not path.exists():
        return FALLBACK_QUESTIONS
    rows = (json.loads(line) for line in path.open())
    found = [r["question"] for r in rows if r["db_id"] == db_id]
    return found[:limit] or FALLBACK_QUESTIONS


class Server:
    """``sqlora serve`` in a subprocess, up until ``/healthz`` answers."""

    def __init__(
        self, db_url: str, model: str | None, adapter: str | None, max_batch: int, max_new_tokens: int, log: Path
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "sqlora.cli.main", "serve", "--db", db_url, "--port", str(self.port),
               "--max-batch", str(max_batch), "--max-new-tokens", str(max_new_tokens),
               "--log-level", "warning"]  # fmt: skip
        if model:
            cmd += ["--model", model]
        if adapter:
            cmd += ["--adapter", adapter]
        self.log = log
        env = {**os.environ, "SQLORA_TOKEN": ""}
        self.proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def wait(self, timeout_s: float = 300) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log.read_text()[-2000:]}")
            try:
                response = httpx.get(self.url + "/healthz", timeout=2)
                if response.status_code == 200:
                    return response.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server did not start in {timeout_s:.0f} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def run_level(url: str, questions: list[str], concurrency: int, requests: int, execute: bool) -> dict:
    """``requests`` POSTs from ``concurrency`` clients; latency percentiles, throughput, errors, validity."""
    latencies: list[float] = []
    errors = 0
    valid = 0
    next_index = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index, errors, valid
        while next_index < requests:
            i = next_index
            next_index += 1
            body = {"question": questions[i % len(questions)], "execute": execute}
            started = time.perf_counter()
            try:
                response = await http.post(url + "/v1/sql", json=body)
                ok = response.status_code == 200
                valid += bool(ok and response.json().get("valid"))
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    before = httpx.get(url + "/v1/stats").json()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    after = httpx.get(url + "/v1/stats").json()
    calls = after["calls"] - before["calls"]
    ordered = sorted(latencies)
    return {
        "concurrency": concurrency,
        "requests": requests,
        "errors": errors,
        "valid": valid,
        "p50_s": round(statistics.median(ordered), 3),
        "p99_s": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 3),
        "mean_s": round(statistics.fmean(ordered), 3),
        "throughput_rps": round(requests / wall, 3),
        "wall_s": round(wall, 2),
        "generate_calls": calls,
        "mean_batch": round((after["requests"] - before["requests"]) / calls, 2) if calls else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Base model (default: embedded SmolLM2).")
    parser.add_argument("--adapter", default=None, help="LoRA adapter directory.")
    parser.add_argument("--db", default=None, help=f"SQLAlchemy URL (default: Spider's {DEFAULT_DB} SQLite file).")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8], help="Concurrency levels.")
    parser.add_argument("--requests", type=int, default=16, help="Requests per level (bounded run).")
    parser.add_argument("--max-batch", type=int, default=8, help="Batch size when batching is on.")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="Generation cap per answer.")
    parser.add_argument("--modes", nargs="+", choices=["on", "off"], default=["on", "off"], help="Batching modes.")
    parser.add_argument("--no-execute", action="store_true", help="Only generate; do not run the SQL.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve_bench.json")
    args = parser.parse_args()
    if args.requests < 1 or any(level < 1 for level in args.levels):
        parser.error("--requests and --levels must be positive")

    console = Console()
    db_url = args.db or f"sqlite:///{SPIDER / 'database' / DEFAULT_DB / (DEFAULT_DB + '.sqlite')}"
    questions = spider_questions(DEFAULT_DB)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    health: dict = {}
    for mode in args.modes:
        max_batch = args.max_batch if mode == "on" else 1
        server = Server(
            db_url,
            args.model,
            args.adapter,
            max_batch,
            args.max_new_tokens,
            Path(tempfile.gettempdir()) / f"serve_bench_{mode}.log",
        )
        try:
            health = server.wait()
            asyncio.run(run_level(server.url, questions, 1, 1, not args.no_execute))  # warm-up
            for level in args.levels:
                row = asyncio.run(run_level(server.url, questions, level, args.requests, not args.no_execute))
                row["batching"] = mode
                row["max_batch"] = max_batch
                results.append(row)
                console.print(
                    f"batching {mode}, concurrency {level}: p50 {row['p50_s']} s, {row['throughput_rps']} req/s"
                )
        finally:
            server.stop()

    table = Table(title=f"sqlora serve: {args.requests} requests per level, model {health.get('model')}")
    for column in ("batching", "clients", "p50 s", "p99 s", "req/s", "errors", "valid", "calls", "mean batch"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(r["batching"], str(r["concurrency"]), f"{r['p50_s']:.2f}", f"{r['p99_s']:.2f}",
                      f"{r['throughput_rps']:.2f}", str(r["errors"]), f"{r['valid']}/{r['requests']}",
                      str(r["generate_calls"]), f"{r['mean_batch']:.1f}")  # fmt: skip
    console.print(table)
    report = {
        "command": "bench/serve_bench.py " + " ".join(sys.argv[1:]),
        "model": health.get("model"),
        "adapter": health.get("adapter"),
        "database": db_url.rsplit("/", 1)[-1],
        "execute": not args.no_execute,
        "requests_per_level": args.requests,
        "max_new_tokens": args.max_new_tokens,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
