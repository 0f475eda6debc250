"""``sqlora serve``: the HTTP API and web page over one configured database."""

from __future__ import annotations

import ipaddress
import os

import typer

from sqlora.cli.app import (
    answering_adapter_option,
    app,
    base_option,
    check_constrained,
    check_precision,
    console,
    constrained_option,
    fail,
    precision_option,
)
from sqlora.cli.checks import answering_adapter, check_port_free, check_prompt_style, open_database
from sqlora.constants import DEFAULT_MAX_NEW_TOKENS

BACKENDS = ("hf", "vllm")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_generator(
    backend: str,
    model: str | None,
    adapter: str | None,
    vllm_url: str | None,
    vllm_model: str | None,
    prompt_style: str | None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    max_batch: int = 8,
    candidates: int = 1,
    precision: str | None = None,
    constrained: bool = False,
):
    """The generator the server batches onto: a local model, or a vLLM server's."""
    if backend == "vllm":
        from sqlora.inference.vllm_backend import VLLMGenerator

        return VLLMGenerator(
            vllm_url,
            served_model=vllm_model,
            model=model,
            adapter=adapter,
            prompt_style=prompt_style,
            api_key=os.environ.get("VLLM_API_KEY"),
            max_new_tokens=max_new_tokens,
        )
    from sqlora.inference.generator import SQLGenerator

    return SQLGenerator(
        model=model,
        adapter=adapter,
        prompt_style=prompt_style,
        max_new_tokens=max_new_tokens,
        batch_size=max_batch,
        candidates=candidates,
        precision=precision,
        constrained=constrained,
    )


@app.command()
def serve(
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL of the database, e.g. sqlite:///path.sqlite."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default: loopback only)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: embedded SmolLM2)."),
    adapter: str | None = answering_adapter_option(),
    base: bool = base_option(),
    prompt_style: str | None = typer.Option(None, help="article or chat (default: the adapter's, else chat)."),
    token: str | None = typer.Option(None, "--token", envvar="SQLORA_TOKEN", help="Require this bearer token."),
    max_batch: int = typer.Option(8, "--max-batch", help="Most requests per generate call (1 = no batching)."),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", help="How long a batch waits for more requests."),
    max_rows: int = typer.Option(1000, "--max-rows", help="Row cap for executed queries."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Timeout for executed queries, seconds."),
    backend: str = typer.Option("hf", "--backend", help="hf (local model) or vllm (a vLLM server)."),
    vllm_url: str | None = typer.Option(None, "--vllm-url", help="vLLM server, e.g. http://127.0.0.1:8001."),
    vllm_model: str | None = typer.Option(None, "--vllm-model", help="Served model/LoRA name (default: listed)."),
    max_new_tokens: int = typer.Option(DEFAULT_MAX_NEW_TOKENS, "--max-new-tokens", help="Tokens per answer."),
    candidates: int = typer.Option(
        1,
        "--candidates",
        min=1,
        help="With --db: for answers that fail or return no rows there, beam-search this many and keep the first"
        " that runs and returns rows (execution-guided; hf backend).",
    ),
    precision: str | None = precision_option(),
    constrained: bool = constrained_option(),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve questions -> SQL over HTTP (API docs at /docs, a web page at /), batching concurrent requests."""
    if not 0 < port < 65536:
        fail(f"--port must be between 1 and 65535, got {port}")
    if max_batch < 1:
        fail("--max-batch must be at least 1")
    if max_new_tokens < 1:
        fail("--max-new-tokens must be at least 1")
    if max_rows < 1 or timeout_s <= 0:
        fail("--max-rows and --timeout must be positive")
    check_precision(precision)
    check_constrained(constrained)
    if backend not in BACKENDS:
        fail(f"--backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    if backend == "vllm" and constrained:
        fail("--constrained needs --backend hf (the vLLM server decodes without sqlora's grammar)")
    if backend == "vllm" and not vllm_url:
        fail("--backend vllm needs --vllm-url http://HOST:PORT")
    check_prompt_style(prompt_style)
    if backend == "hf":
        adapter = answering_adapter(model, adapter, base)
    if max_wait_ms < 0:
        fail(f"--max-wait-ms must not be negative, got {max_wait_ms}")
    if log_level.lower() not in LOG_LEVELS:
        fail(f"unknown --log-level '{log_level}' (use {', '.join(LOG_LEVELS)})")
    if vllm_url is not None and not vllm_url.startswith(("http://", "https://")):
        fail(f"--vllm-url must be an http(s) URL, got {vllm_url!r}")
    if not _is_loopback(host) and not token:
        console.print(f"[yellow]warning:[/] serving on {host} without --token: anyone who can reach it can query.")

    import uvicorn

    from sqlora.serving.app import ServeSettings, create_app

    database = open_database(db) if db else None
    check_port_free(host, port)
    console.print(f"loading the {backend} generator…")
    try:
        generator = build_generator(
            backend,
            model,
            adapter,
            vllm_url,
            vllm_model,
            prompt_style,
            max_new_tokens,
            max_batch,
            candidates,
            precision,
            constrained,
        )
    except Exception as err:  # noqa: BLE001 - whatever the model or the vLLM server failed with
        fail(f"cannot load the generator: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    settings = ServeSettings(
        candidates=candidates,
        precision=precision,
        model=model,
        adapter=adapter,
        backend=backend,
        db_url=db,
        token=token,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_rows=max_rows,
        timeout_s=timeout_s,
    )
    api = create_app(settings, generator=generator, database=database)
    check_port_free(host, port)  # still free after loading the model?
    console.print(f"serving on http://{host}:{port}/ (API docs: /docs)")
    uvicorn.run(api, host=host, port=port, log_level=log_level.lower())
