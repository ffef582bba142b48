"""The dashboard's pages and form actions; every datum comes from the Runs API."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from agent_runtime.ui import live
from agent_runtime.ui.client import GatewayClient, GatewayError
from agent_runtime.ui.csrf import CsrfGuard, CsrfRejected, verify
from agent_runtime.ui.forms import form_fields, parse_form
from agent_runtime.ui.headers import GRAPH_POLICY
from agent_runtime.ui.session import SignedIn
from agent_runtime.ui.state_tracker import StateTracker
from agent_runtime.ui.views import STATUSES, actions_key, interrupt_token, run_view

#: Every route passes the CSRF check; it lets safe methods through and guards the rest.
router = APIRouter(dependencies=[Depends(verify)])
PAGE_SIZE = 20


def _client(request: Request) -> GatewayClient:
    """The gateway as this request's caller: its own ``Authorization`` header, nothing else."""
    shared: GatewayClient = request.app.state.client
    return shared.acting_for(request.headers.get("authorization"))


Client = Annotated[GatewayClient, Depends(_client)]


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    guard: CsrfGuard = request.app.state.csrf
    token, new_session = guard.issue(request)
    session = request.scope.get("session")
    signed_in = SignedIn.from_session(session) if session is not None else None
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context = {
        "root": root,
        "gateway": request.app.state.client.base_url,
        "csrf_token": token,
        # With the UI's own sign-in: who is signed in (for the header), and where a "sign in
        # again" link comes back to (a form's target cannot be opened with GET).
        "signin_on": getattr(request.app.state, "signin", None) is not None,
        "user": signed_in.user if signed_in else None,
        "here": here if request.method == "GET" else f"{root}/",
        **context,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    if new_session:
        guard.set_cookie(request, response, new_session)
    return response


async def refused(request: Request, exc: CsrfRejected) -> HTMLResponse:
    """A request that failed the CSRF check: a 403 page saying why and that nothing changed."""
    return page(request, "error.html", {"title": "Request refused", "error": exc}, exc.status)


def failure(request: Request, exc: GatewayError, title: str) -> HTMLResponse:
    """The gateway's error as a page with its status; 401 and 403 say what the user can do."""
    status = exc.status if 400 <= exc.status < 600 else 502
    title = {401: "Sign in required", 403: "Not allowed"}.get(status, title)
    response = page(request, "error.html", {"title": title, "error": exc}, status)
    if status == 401 and exc.challenge:
        response.headers["WWW-Authenticate"] = exc.challenge
    return response


async def form_values(request: Request) -> dict[str, str]:
    """An urlencoded form body (what these pages post), without a multipart dependency."""
    return dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))


@router.get("/", response_class=HTMLResponse)
async def workflows_page(request: Request, client: Client) -> HTMLResponse:
    try:
        items = await client.workflows()
    except GatewayError as exc:
        return failure(request, exc, "Workflows")
    return page(request, "workflows.html", {"title": "Workflows", "workflows": items})


async def _workflow_page(
    request: Request,
    client: GatewayClient,
    namespace: str,
    name: str,
    *,
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    error: GatewayError | None = None,
) -> HTMLResponse:
    try:
        workflow = await client.workflow(namespace, name)
        recent = await client.runs(workflow=f"{namespace}/{name}", limit=5)
    except GatewayError as exc:
        return failure(request, exc, f"Workflow {namespace}/{name}")
    context = {
        "title": f"Workflow {name}",
        "workflow": workflow,
        "fields": form_fields(workflow.get("input") or {}),
        "values": values or {},
        "problems": problems or {},
        "error": error,
        "recent": recent["items"],
    }
    status = (
        422 if problems or (error and error.status == 422) else (error.status if error else 200)
    )
    response = page(request, "workflow.html", context, status)
    if workflow.get("graph"):
        response.headers["Content-Security-Policy"] = GRAPH_POLICY
    return response


@router.get("/workflows/{namespace}/{name}", response_class=HTMLResponse)
async def workflow_page(
    request: Request, client: Client, namespace: str, name: str
) -> HTMLResponse:
    return await _workflow_page(request, client, namespace, name)


@router.post("/workflows/{namespace}/{name}/runs", response_model=None)
async def start_run(request: Request, client: Client, namespace: str, name: str) -> Response:
    values = await form_values(request)
    try:
        workflow = await client.workflow(namespace, name)
    except GatewayError as exc:
        return failure(request, exc, f"Workflow {namespace}/{name}")
    given, problems = parse_form(form_fields(workflow.get("input") or {}), values)
    if problems:
        return await _workflow_page(
            request, client, namespace, name, values=values, problems=problems
        )
    try:
        started = await client.start_run(namespace, name, given)
    except GatewayError as exc:
        if exc.status == 401:
            return failure(request, exc, f"Workflow {namespace}/{name}")
        fields = {k.removeprefix("input."): f"{k}: {v}" for k, v in exc.field_errors().items()}
        return await _workflow_page(
            request, client, namespace, name, values=values, problems=fields, error=exc
        )
    root = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{root}/runs/{started['id']}", status_code=303)


@router.get("/runs", response_class=HTMLResponse)
async def runs_page(
    request: Request,
    client: Client,
    workflow: str = "",
    status: str = "",
    cursor: str = "",
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> HTMLResponse:
    filters = {"workflow": workflow, "status": status}
    if status and status not in STATUSES:
        error = GatewayError.because(
            "invalid_request", f"status: must be one of {', '.join(STATUSES)}"
        )
        return failure(request, error, "Runs")
    try:
        listing = await client.runs(
            workflow=workflow or None, status=status or None, limit=limit, cursor=cursor or None
        )
        workflows = await client.workflows()
    except GatewayError as exc:
        return failure(request, exc, "Runs")
    shown: dict[str, str | int] = {k: v for k, v in filters.items() if v}
    if limit != PAGE_SIZE:
        shown["limit"] = limit
    next_cursor = listing.get("nextCursor")
    context = {
        "title": "Runs",
        "runs": listing["items"],
        "filters": filters,
        "limit": limit if limit != PAGE_SIZE else None,
        "workflows": workflows,
        "first_page": "?" + urlencode(shown) if cursor else None,
        "next_page": "?" + urlencode({**shown, "cursor": next_cursor}) if next_cursor else None,
    }
    partial = request.headers.get("HX-Target") == "runs-results"
    return page(request, "_runs_results.html" if partial else "runs.html", context)


def _render_body(request: Request) -> live.Render:
    def render(
        run: dict[str, Any], tracker: StateTracker | None, error: GatewayError | None
    ) -> str:
        root = request.scope.get("root_path", "").rstrip("/")
        template = request.app.state.templates.get_template("_run_body.html")
        view = run_view(run, tracker) if "steps" in run else None
        return str(template.render(root=root, view=view, error=error, run_id=run.get("id")))

    return render


def _render_actions(request: Request) -> live.RenderActions:
    def render(run: dict[str, Any]) -> tuple[str, str]:
        root = request.scope.get("root_path", "").rstrip("/")
        template = request.app.state.templates.get_template("_run_actions.html")
        html = template.render(
            root=root,
            view=run_view(run, None),
            values={},
            problems={},
            csrf_token=request.app.state.csrf.token_for(request),
        )
        return actions_key(run), str(html)

    return render


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, client: Client, run_id: str) -> HTMLResponse:
    return await _run_page(request, client, run_id)


async def _run_page(
    request: Request,
    client: GatewayClient,
    run_id: str,
    error: GatewayError | None = None,
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
) -> HTMLResponse:
    try:
        run = await client.run(run_id)
        finished = run["status"] not in ("queued", "running", "interrupted")
        tracker = (
            await live.replay(client, run) if finished else await live.tracker_for(client, run)
        )
    except GatewayError as exc:
        return failure(request, exc, f"Run {run_id}")
    context = {
        "title": f"Run {run_id}",
        "view": run_view(run, tracker),
        "run_id": run_id,
        "live": not finished,
        "actions_key": actions_key(run),
        "error": error,
        "values": values or {},
        "problems": problems or {},
    }
    status = error.status if error else 200
    return page(request, "run.html", context, status)


@router.get("/runs/{run_id}/live")
async def run_live(
    request: Request, client: Client, run_id: str, actions: str = ""
) -> StreamingResponse:
    return StreamingResponse(
        live.feed(
            client, run_id, _render_body(request), _render_actions(request), shown_actions=actions
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/runs/{run_id}/resume", response_model=None)
async def resume_run(request: Request, client: Client, run_id: str) -> Response:
    values = await form_values(request)
    try:
        run = await client.run(run_id)
    except GatewayError as exc:
        return failure(request, exc, f"Run {run_id}")
    fields = form_fields((run.get("interrupt") or {}).get("fields") or {})
    given, problems = parse_form(fields, values)
    if problems:
        error = GatewayError.because("invalid_input", "; ".join(problems.values()))
        return await _run_page(request, client, run_id, error, values, problems)
    try:
        await client.resume(run_id, given)
    except GatewayError as exc:
        if exc.status == 401:
            return failure(request, exc, f"Run {run_id}")
        fields_bad = {k.removeprefix("input."): f"{k}: {v}" for k, v in exc.field_errors().items()}
        return await _run_page(request, client, run_id, exc, values, fields_bad)
    root = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{root}/runs/{run_id}", status_code=303)


def _decision(run: dict[str, Any], values: dict[str, str]) -> dict[str, Any] | GatewayError:
    """The body of an approval form as the gateway's ``approve`` arguments, or why not.

    The form names the request it showed (``interrupt``, see ``interrupt_token``); the decision
    only goes to the gateway while the run still waits for exactly that.
    """
    interrupt = run.get("interrupt") or {}
    if (
        run.get("status") != "interrupted"
        or interrupt.get("kind") != "approval"
        or values.get("interrupt") != interrupt_token(interrupt)
    ):
        return GatewayError.because(
            "conflict",
            f"run {run.get('id')} no longer waits for the approval this page showed (someone "
            f"decided it, or it waits for something else now; it is {run.get('status')}): "
            "nothing was decided, review the run below",
        )
    decision = values.get("decision", "")
    reason = values.get("reason", "")
    if decision == "deny":
        return {"approved": False, "reason": reason}
    if decision != "approve":
        return GatewayError.because("invalid_request", "decision: must be approve or deny")
    ids = [str(call.get("id")) for call in interrupt.get("calls") or []]
    chosen = {call_id: values.get(f"call:{call_id}") == "true" for call_id in ids}
    if ids and not any(chosen.values()):
        return GatewayError.because(
            "invalid_request", "calls: tick at least one call to approve, or deny them all"
        )
    given = values.get("result", "").strip()
    if given and interrupt.get("reason") == "unknownOutcome":
        try:
            result = json.loads(given)
        except json.JSONDecodeError as exc:
            return GatewayError.because(
                "invalid_request",
                f'result: expected JSON ({exc.msg} at column {exc.colno}), e.g. "ok" or {{}}',
            )
        return {"approved": True, "reason": reason, "result": result}
    if all(chosen.values()):
        return {"approved": True, "reason": reason}
    return {"approved": False, "reason": reason, "calls": chosen}


@router.post("/runs/{run_id}/approve", response_model=None)
async def approve_run(request: Request, client: Client, run_id: str) -> Response:
    """Approve (all or the ticked calls) or deny what the run waits for, as the signed-in user."""
    values = await form_values(request)
    try:
        run = await client.run(run_id)
    except GatewayError as exc:
        return failure(request, exc, f"Run {run_id}")
    decided = _decision(run, values)
    if isinstance(decided, GatewayError):
        kept = values if decided.status == 422 else None
        return await _run_page(request, client, run_id, decided, kept)
    try:
        await client.approve(run_id, **decided)
    except GatewayError as exc:
        if exc.status == 401:
            return failure(request, exc, f"Run {run_id}")
        return await _run_page(request, client, run_id, exc, values)
    root = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{root}/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/cancel", response_model=None)
async def cancel_run(request: Request, client: Client, run_id: str) -> Response:
    try:
        await client.cancel(run_id)
    except GatewayError as exc:
        if exc.status == 401:
            return failure(request, exc, f"Run {run_id}")
        return await _run_page(request, client, run_id, exc)
    root = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{root}/runs/{run_id}", status_code=303)
