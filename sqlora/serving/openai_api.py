"""An OpenAI-compatible surface on ``sqlora serve``: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Clients built for the OpenAI API (the ``openai`` package, LangChain, llama-index) get sqlora's SQL unchanged:

* the question is the last ``user`` message; the schema is the request's ``schema`` field (CREATE TABLE text,
  sent with ``extra_body``), else the CREATE TABLE statements in the ``system``/``developer`` messages, else
  the served database's schema cut to the tables the question is about;
* the reply's ``content`` is the SQL (in the database's dialect, or ``dialect``); everything else sqlora knows
  (``valid``, ``errors``, rows when ``execute`` is set, ...) is in a ``sqlora`` object next to ``choices``;
* ``stream: true`` sends the same answer as ``chat.completion.chunk`` server-sent events, then ``[DONE]``;
* errors are 4xx/5xx with OpenAI's body: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqlora.serving.app import ServerState, answer
from sqlora.serving.schemas import MAX_QUESTION_CHARS, MAX_SCHEMA_CHARS, SQLRequest, SQLResponse

MODEL_ID = "sqlora"
_STARTED = int(time.time())
_CREATE_TABLE = re.compile(r"\bCREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE\b", re.IGNORECASE)
_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "invalid_request_error",
                429: "rate_limit_error"}  # fmt: skip


# -- request and response bodies ------------------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content or [] if part.type == "text" and part.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; other OpenAI fields (temperature, max_tokens, ...) are accepted and
    ignored (decoding is greedy). ``schema``, ``dialect`` and ``execute`` are sqlora's own."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model: str = Field(..., max_length=256)
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=256)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(1, ge=1, le=1, description="Only one choice is generated.")
    schema_: str | None = Field(None, alias="schema", max_length=MAX_SCHEMA_CHARS, description="CREATE TABLE text.")
    dialect: str | None = Field(None, max_length=32, description="SQL dialect of the reply (default: the database's).")
    execute: bool = Field(False, description="Run the SQL read-only on the served database; rows go in `sqlora`.")


class OpenAIError(Exception):
    """A request the endpoint refuses, with OpenAI's error fields."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    """OpenAI's error body."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class OpenAIRoute(APIRoute):
    """Routes whose every failure (validation, auth, refusals, generation) answers in OpenAI's error format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except OpenAIError as err:
                return error_response(err.status, err.message, err.param, err.code)
            except RequestValidationError as err:
                first = err.errors()[0] if err.errors() else {}
                loc = [str(p) for p in first.get("loc", ()) if p != "body"]
                message = f"{'.'.join(loc) or 'body'}: {first.get('msg', 'invalid request')}"
                return error_response(400, message, param=".".join(loc) or None)
            except StarletteHTTPException as err:
                status = 400 if err.status_code == 422 else err.status_code
                return error_response(status, str(err.detail), headers=err.headers)

        return route


router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


# -- helpers ---------------------------------------------------------------------------------------------------
def create_table_text(text: str) -> str:
    """The CREATE TABLE statements in ``text`` (prose around them dropped), one per line, each ending in ``;``."""
    statements = []
    for match in _CREATE_TABLE.finditer(text):
        depth, end = 0, None
        for i in range(match.end(), len(text)):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    end = i + 1
                    break
        if end is not None:
            statements.append(text[match.start() : end])
    return "\n".join(f"{statement};" for statement in statements)


def question_and_schema(body: ChatCompletionRequest) -> tuple[str, str | None]:
    """The last user message, and the schema from the request field or the system messages (None: use the DB)."""
    users = [m for m in body.messages if m.role == "user"]
    if not users or not users[-1].text.strip():
        raise OpenAIError(400, "messages: the last user message must hold the question as text", param="messages")
    question = users[-1].text.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise OpenAIError(400, f"the question is longer than {MAX_QUESTION_CHARS} characters", param="messages")
    if body.schema_:
        return question, body.schema_
    system = "\n".join(m.text for m in body.messages if m.role in ("system", "developer"))
    schema = create_table_text(system)
    if len(schema) > MAX_SCHEMA_CHARS:
        raise OpenAIError(400, f"the schema is longer than {MAX_SCHEMA_CHARS} characters", param="messages")
    return question, schema or None


def _state(request: Request) -> ServerState:
    return request.app.state.sqlora


def _prompt_tokens(state: ServerState, question: str, schema: str) -> int | None:
    """How many tokens the model's prompt had (None when the generator does not say)."""
    generator = state.generator
    try:
        return len(generator.tokenizer(generator.prompt(question, schema), add_special_tokens=False)["input_ids"])
    except Exception:  # noqa: BLE001 - usage is informative only
        return None


def _usage(prompt: int | None, completion: int) -> dict[str, int] | None:
    if prompt is None:
        return None
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# -- endpoints -------------------------------------------------------------------------------------------------
@router.get("/models")
async def list_models(request: Request) -> dict:
    """The one model this server answers with (OpenAI's model list)."""
    state = _state(request)
    generator = state._generator
    return {
        "object": "list",
        "data": [
            {
                "id": MODEL_ID,
                "object": "model",
                "created": _STARTED,
                "owned_by": "sqlora",
                "root": str(getattr(generator, "model_name", None) or state.settings.model or "embedded"),
                "adapter": getattr(generator, "adapter", None) or state.settings.adapter,
            }
        ],
    }


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    """SQL for the last user message, as an OpenAI chat completion (or its SSE chunks with ``stream: true``)."""
    state = _state(request)
    if body.model != MODEL_ID:
        raise OpenAIError(404, f"The model '{body.model}' does not exist; this server serves '{MODEL_ID}' "
                          "(GET /v1/models)", param="model", code="model_not_found")  # fmt: skip
    question, schema = question_and_schema(body)
    if schema is None and state.database is None:
        raise OpenAIError(400, "no schema: put CREATE TABLE statements in a system message or the `schema` field,"
                          " or start the server with --db URL", param="messages")  # fmt: skip
    if schema is None:
        schema = await asyncio.to_thread(state.context_for, question)
    sql_request = SQLRequest.model_construct(
        question=question, schema_=schema, execute=body.execute, dialect=body.dialect, explain=False
    )
    try:
        result = await answer(state, sql_request)
    except HTTPException as err:
        status = 400 if err.status_code == 422 else err.status_code
        raise OpenAIError(status, str(err.detail)) from err
    prompt = await asyncio.to_thread(_prompt_tokens, state, question, schema)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    extra = result.model_dump()
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = _chunks(completion_id, created, result, extra, _usage(prompt, result.generated_tokens), include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.sql, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": _usage(prompt, result.generated_tokens),
            "sqlora": extra,
        }
    )


async def _chunks(
    completion_id: str,
    created: int,
    result: SQLResponse,
    extra: dict,
    usage: dict | None,
    include_usage: bool,
) -> AsyncIterator[str]:
    """The answer as ``chat.completion.chunk`` events: the role, the SQL, the stop (with ``sqlora``), [usage]."""

    def event(choices: list[dict], **more: Any) -> str:
        chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                 "choices": choices, **more}  # fmt: skip
        return f"data: {json.dumps(chunk)}\n\n"

    def delta(content: dict, finish: str | None = None) -> list[dict]:
        return [{"index": 0, "delta": content, "finish_reason": finish, "logprobs": None}]

    yield event(delta({"role": "assistant", "content": ""}))
    yield event(delta({"content": result.sql}))
    yield event(delta({}, "stop"), sqlora=extra)
    if include_usage:
        yield event([], usage=usage)
    yield "data: [DONE]\n\n"
