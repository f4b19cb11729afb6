"""The MCP server (the official ``mcp`` SDK, Streamable HTTP) at ``/mcp``: the async half.

Served by the project's ASGI entry point beside Django (``promptlab.asgi``), so
``make run`` serves it with no other process. Stateless: every POST stands alone
(no session kept in a process's memory), so any web worker answers any request.

Each request is authenticated first, by the REST API's personal-token
authentication and rate limits (``calls.authenticate``); the handlers find the
caller in a context variable, set for the request's task and the tasks it starts.
A tool call submits a job (``calls.start_call``) and follows it as the event
streams do, on its Redis channel: each chunk carries the output tokens so far,
sent as progress when the client asked for it. An agent that cancels the call
(``notifications/cancelled``, or closing the response stream) cancels the job.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import anyio
import mcp_types as types
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from redis.exceptions import RedisError

from jobs.api.serializers import JobSerializer
from jobs.models import TERMINAL_STATUSES, Job, JobStatus
from jobs.streaming import channel_name, streaming_enabled
from jobs.subscriber import SubscriptionLost, shared_subscriber

from . import calls

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
POLL_SECONDS = 0.1  # without Redis (the embedded mode), a call polls its job's row
QUIET_SECONDS = 5.0  # a call with no event for this long reads its job again

_caller: ContextVar[calls.Caller] = ContextVar("promptlab_mcp_caller")


def _in_thread(function: Any) -> Any:
    """Run sync work (queries, validation, the submit) in the event loop's small thread
    pool, not asgiref's one shared thread: each call is real work, and one thread
    would make every MCP request of the process wait in line. Each function hands its
    database connection back to the pool when it is done (``calls``)."""
    return sync_to_async(function, thread_sensitive=False)


_shutting_down = False


async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    specs = await _in_thread(calls.tool_specs)(_caller.get())
    return types.ListToolsResult(
        tools=[
            types.Tool(name=s.name, title=s.title, description=s.description, input_schema=s.input_schema)
            for s in specs
        ]
    )


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    caller = _caller.get()
    try:
        job = await _in_thread(calls.start_call)(caller, params.name, params.arguments or {})
    except calls.ToolRefused as exc:
        return _refused(exc.body)
    try:
        job = await _follow(job, ctx, caller.language)
    except anyio.get_cancelled_exc_class():
        # The agent cancelled the call or went away (not the server stopping: the
        # job goes on then, and its result stays in the job list).
        if not _shutting_down:
            with anyio.CancelScope(shield=True):
                await _in_thread(calls.cancel)(job.pk)
        raise
    return await _in_thread(_result)(job, caller.language)


def _refused(body: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=body["error"]["message"])],
        structured_content=body,
        is_error=True,
    )


def _result(job: Job, language: str) -> types.CallToolResult:
    """The output, with its tokens and cost; the job as the REST API writes it as structured content."""
    with translation.override(language):
        document = json.loads(json.dumps(JobSerializer(job).data, default=str))
        if job.status == JobStatus.SUCCEEDED:
            text = job.output
        elif job.status == JobStatus.FAILED:
            text = _("The job failed: %(reason)s") % {"reason": job.error_text or job.error_code}
        elif job.status == JobStatus.CANCELLED:
            text = _("The job was cancelled.")
        else:
            text = _("Still running: follow it at %(url)s.") % {"url": document["links"]["self"]}
        usage = _("Tokens: %(input)s in, %(output)s out. Cost: %(cost)s.") % {
            "input": job.input_tokens if job.input_tokens is not None else "—",
            "output": job.output_tokens if job.output_tokens is not None else "—",
            "cost": f"${job.cost}" if job.cost is not None else "—",
        }
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text), types.TextContent(type="text", text=usage)],
        structured_content=document,
        is_error=job.status != JobStatus.SUCCEEDED,
    )


async def _follow(job: Job, ctx: Any, language: str) -> Job:
    """The job once it has ended (or as it stands after ``MCP_CALL_TIMEOUT``)."""
    deadline = anyio.current_time() + settings.MCP_CALL_TIMEOUT
    if job.is_terminal:
        return job
    if streaming_enabled():
        try:
            return await _follow_events(job, ctx, language, deadline)
        except (OSError, RedisError, SubscriptionLost, TimeoutError) as exc:
            logger.warning("MCP call for job %s: Redis unavailable (%s); polling instead", job.pk, exc)
    while anyio.current_time() < deadline:
        await anyio.sleep(POLL_SECONDS)
        job = await _in_thread(calls.read_job)(job.pk)
        if job.is_terminal:
            break
    return job


async def _follow_events(job: Job, ctx: Any, language: str, deadline: float) -> Job:
    """Listen on the job's channel (its leader's while it follows one), subscribed first
    and then read, as the event streams do, so that no end is missed in between."""
    subscriber = shared_subscriber()
    source = job.leader_id or job.pk
    reported = 0
    while True:
        async with subscriber.listen(channel_name(source)) as events:
            job = await _in_thread(calls.read_job)(job.pk)
            while not job.is_terminal and (left := deadline - anyio.current_time()) > 0:
                event = await events.get(min(left, QUIET_SECONDS))
                if event is None:
                    job = await _in_thread(calls.read_job)(job.pk)
                elif event["type"] == "chunk" and event.get("tokens", 0) > reported:
                    reported = event["tokens"]
                    await _progress(ctx, reported, language)
                elif event["type"] == "status" and event["status"] in TERMINAL_STATUSES:
                    job = await _in_thread(calls.read_job)(job.pk)
                    break
        if job.is_terminal or anyio.current_time() >= deadline:
            return job
        # Its leader was cancelled and it was handed on: follow the new one.
        source = job.leader_id or job.pk


async def _progress(ctx: Any, tokens: int, language: str) -> None:
    with translation.override(language):
        message = ngettext("%(count)d token so far", "%(count)d tokens so far", tokens) % {"count": tokens}
    await ctx.session.report_progress(tokens, None, message)  # a no-op unless the client asked


server: Server[Any] = Server(
    "promptlab",
    version="1.0.0",
    instructions="Each tool runs one PromptLab template on its inputs and answers with the output.",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
)

# Every request carries a personal token, which a page that rebinds its host name to
# this server does not have: the SDK's Host and Origin checks would add nothing but
# refusing the host names the site is served under (ALLOWED_HOSTS decides those).
session_manager = StreamableHTTPSessionManager(
    app=server,
    stateless=True,
    security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
)
_transport = StreamableHTTPASGIApp(session_manager)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The MCP endpoint: a request with a usable personal token, within its limits, reaches
    the SDK's transport; any other is answered here, as the REST API would."""
    outcome = await _in_thread(calls.authenticate)(scope.get("headers", []), scope.get("client"))
    if isinstance(outcome, calls.Refusal):
        body = json.dumps(outcome.body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(name.lower().encode(), value.encode()) for name, value in outcome.headers.items()]
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    token = _caller.set(outcome)
    try:
        await _transport(scope, receive, send)
    finally:
        _caller.reset(token)


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[None]:
    """The transport's task group, for the server process's lifetime (its lifespan)."""
    global _shutting_down
    _shutting_down = False
    async with session_manager.run():
        try:
            yield
        finally:
            _shutting_down = True
