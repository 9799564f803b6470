"""The dashboard's pages: workflows (the queue), a workflow, models, a model, offers, the cluster, the tuning database,
downloads, and the sign-in they need.

Each page reads the registry in one read-only session, with the same access rules as the
API (`farm.registry.access`): a user sees the workflows and models of their projects, and
a record they may not see is a 404. Controls that change state (cancel, accept or dismiss an
offer) are rendered only
for users allowed to use them, and their POST routes check the same rule and a CSRF token.
An element of a page that carries `data-live` is refreshed in place by `static/live.js`:
the queue always, a workflow's page while it is pending or running.
"""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from farm.api.routes.offers import accept_as
from farm.api.routes.variants import artifact_response
from farm.api.routes.workflows import cancel_as
from farm.api.ui import charts
from farm.api.ui.session import COOKIE, check_csrf, csrf_token, page_user, signed_in, signed_out
from farm.offers import offer_as_seen_by
from farm.registry import access, catalog, offers, workflow_records
from farm.registry.catalog import ORIGINAL
from farm.registry.errors import PermissionDenied
from farm.registry.schema import ACTIVE_STATES, Model, Project, User, Variant, Workflow, utcnow
from farm.runtime.engines import DEFAULT_ENGINE

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(files("farm.api.ui") / "templates"))
PageUser = Annotated[User, Depends(page_user)]
QUEUE_LIMIT = 100  # pending and running workflows listed
RECENT_LIMIT = 50  # finished workflows listed


def render(request: Request, user: User | None, name: str, **context) -> HTMLResponse:
    token = request.cookies.get(COOKIE)
    return templates.TemplateResponse(
        request, name, {"user": user, "csrf": csrf_token(token) if token and user else "", **context}
    )


def _session(request: Request):
    return request.app.state.registry.session(read_only=True)


@router.get("", response_class=RedirectResponse)
def home() -> RedirectResponse:
    return RedirectResponse("/ui/workflows", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, token: str | None = None, next: str = "/ui/workflows", reason: str = "") -> Response:
    """With `?token=`, the sign-in link `farm serve` prints: exchanged for the session cookie at once. Otherwise the form."""
    target = next if next.startswith("/ui/") else "/ui/workflows"
    if token:
        try:
            return signed_in(request, token, target)
        except PermissionDenied as e:
            reason = e.message
    return render(request, None, "login.html", reason=reason, next=target)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/ui/workflows") -> Response:
    target = next if next.startswith("/ui/") else "/ui/workflows"
    try:
        return signed_in(request, token.strip(), target)
    except PermissionDenied as e:
        return render(request, None, "login.html", reason=e.message, next=target)


@router.post("/logout", response_class=RedirectResponse)
def logout(request: Request, user: PageUser, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    return signed_out()


def _elapsed(workflow: Workflow, now: datetime) -> float | None:
    if workflow.started_at is None:
        return None
    return ((workflow.finished_at or now) - workflow.started_at).total_seconds()


def _rows(s: Session, user: User, workflows: list[Workflow]) -> list[dict]:
    """What the workflows table shows of each: its model's name, who started it, elapsed seconds, may the user cancel."""
    names = dict(s.query(Model.id, Model.name).filter(Model.id.in_({w.model_id for w in workflows})).all())
    emails = dict(s.query(User.id, User.email).filter(User.id.in_({w.created_by for w in workflows})).all())
    now = utcnow()
    return [
        {
            "workflow": w,
            "model": names.get(w.model_id, w.model_id),
            "by": emails.get(w.created_by, w.created_by),
            "elapsed": _elapsed(w, now),
            "cancel": w.state in ACTIVE_STATES and access.may_cancel(s, user, w),
        }
        for w in workflows
    ]


@router.get("/workflows", response_class=HTMLResponse)
def workflows_page(request: Request, user: PageUser) -> HTMLResponse:
    """The queue: running and pending workflows, then the most recent finished ones."""
    scope = access.visible_models(user)
    with _session(request) as s:
        running, n_running = workflow_records.list_workflows(s, state="running", scope=scope, limit=QUEUE_LIMIT)
        pending, n_pending = workflow_records.list_workflows(s, state="pending", scope=scope, limit=QUEUE_LIMIT)
        recent = workflow_records.recent_finished(s, scope=scope, limit=RECENT_LIMIT)
        queue = {"running": _rows(s, user, running), "pending": _rows(s, user, pending)}
        context = {"queue": queue, "counts": {"running": n_running, "pending": n_pending}}
        context["recent"] = _rows(s, user, recent)
    return render(request, user, "workflows.html", **context)


@router.get("/workflows/{workflow_id}", response_class=HTMLResponse)
def workflow_page(request: Request, workflow_id: str, user: PageUser) -> HTMLResponse:
    """One workflow: per kind its stage, trials, latency curve, task table, session profile and reuse."""
    with _session(request) as s:
        workflow = access.workflow(s, user, workflow_id)
        row = _rows(s, user, [workflow])[0]
        history = workflow_records.progress_history(s, workflow_id)
        variants = [v for v in catalog.list_variants(s, workflow.model_id) if v.workflow_id == workflow_id]
    kinds = []
    for kind in workflow.targets:
        progress = workflow.progress.get(kind, {})
        profile = progress.get("profile") or {}
        kinds.append(
            {
                "kind": kind,
                "progress": progress,
                "tasks": sorted(
                    progress.get("tasks") or [], key=lambda t: -(t.get("weight") or 0) * (t.get("best_us") or 0)
                ),
                "profile": charts.stacked_bar(
                    {p: profile.get(f"{p}_seconds") for p in ("search", "build", "measure", "cost_model")}
                ),
                "reuse": progress.get("reuse") or {},
                "variant": next((v for v in variants if v.kind == kind), None),
            }
        )
    return render(
        request,
        user,
        "workflow.html",
        row=row,
        workflow=workflow,
        kinds=kinds,
        curve=charts.latency_curve(history),
        live=workflow.state in ACTIVE_STATES,
    )


@router.post("/workflows/{workflow_id}/cancel", response_class=RedirectResponse)
def cancel(request: Request, workflow_id: str, user: PageUser, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    cancel_as(request.app.state.registry, request.app.state.workflows, user, workflow_id)
    return RedirectResponse(f"/ui/workflows/{workflow_id}", status_code=303)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, user: PageUser, offset: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    """The models the user may see, with their projects."""
    with _session(request) as s:
        models, total = catalog.list_models(s, scope=access.visible_models(user), offset=offset, limit=100)
        ids = {m.project_id for m in models if m.project_id}
        projects = dict(s.query(Project.id, Project.name).filter(Project.id.in_(ids)).all())
    return render(request, user, "models.html", models=models, total=total, offset=offset, projects=projects)


def _variant_row(variant: Variant, benchmark: dict | None, packages: list) -> dict:
    metrics = variant.metrics or {}
    stats = {}
    if benchmark:
        engine = benchmark.get("engine")
        stats = ((benchmark.get("engines") or {}).get(engine) or {}).get("stats") or {}
    return {
        "variant": variant,
        "metrics": metrics,
        "engine": metrics.get("engine") or ("onnx" if variant.kind == ORIGINAL else DEFAULT_ENGINE),
        "std_ms": stats.get("std_ms"),
        "packages": packages,
    }


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(request: Request, model_id: str, user: PageUser, all: bool = False) -> HTMLResponse:
    """A model: its best variant per kind (every variant with `?all=true`), their figures, downloads, latency vs cost."""
    with _session(request) as s:
        model = access.model(s, user, model_id)
        variants = catalog.list_variants(s, model_id)
        benchmarks = {b.variant_id: b.results for b in catalog.list_benchmarks(s, model_id=model_id)}
        packages: dict[str, list] = {}
        for p in catalog.list_packages(s, model_id=model_id):
            packages.setdefault(p.variant_id, []).append(p)
    rows = [_variant_row(v, benchmarks.get(v.id), packages.get(v.id, [])) for v in variants]
    best = {v.id for v in catalog.best_variants(variants).values()}
    for row in rows:
        row["best"] = row["variant"].id in best
    shown = [r for r in rows if all or r["best"] or r["variant"].kind == ORIGINAL]
    priced = [
        (r["variant"].kind, r["metrics"]["best_latency_ms"], r["metrics"]["cost_per_million_usd"], r["best"])
        for r in rows
        if r["variant"].kind != ORIGINAL and r["metrics"].get("cost_per_million_usd") is not None
    ]
    dots, scatter = charts.scatter(priced)
    return render(
        request,
        user,
        "model.html",
        model=model,
        rows=shown,
        all=all,
        hidden=len(rows) - len(shown),
        dots=dots,
        scatter=scatter,
    )


@router.get("/cluster", response_class=HTMLResponse)
def cluster_page(request: Request, user: PageUser) -> HTMLResponse:
    """The cluster's nodes: device kinds and targets, liveness, measurement queues and counters read live."""
    service = request.app.state.workflows
    state, error = {"nodes": [], "ray_dashboard": None}, None
    if service is not None:
        try:
            state = service.cluster()
        except Exception as e:  # noqa: BLE001 - Ray's errors vary; the page says what went wrong
            error = f"the cluster could not be read: {type(e).__name__}: {e}"
    return render(request, user, "cluster.html", **state, error=error)


@router.get("/database", response_class=HTMLResponse)
def database_page(request: Request, user: PageUser) -> HTMLResponse:
    """The tuning database: records and workloads per target, growth by day, largest workloads, saved cost models.

    Every tenant's tunes share the database, so the model a workload was first tuned for is shown to admins only."""
    service = request.app.state.workflows
    db, error = None, None
    if service is not None:
        try:
            db = service.tuning_database()
        except Exception as e:  # noqa: BLE001 - storage errors vary (a folder, S3); the page says what went wrong
            error = f"the tuning database could not be read: {type(e).__name__}: {e}"
    if db is not None and not user.is_admin:
        db = {**db, "largest": [{**w, "first_model": None} for w in db.get("largest", [])]}
    growth = {}
    for key, target in (db or {}).get("targets", {}).items():
        total, points = 0, []
        for day, n in target["per_day"].items():
            total += n
            points.append((day, total))
        growth[key] = charts.bars(points)
    return render(request, user, "database.html", db=db, error=error, growth=growth)


@router.get("/offers", response_class=HTMLResponse)
def offers_page(request: Request, user: PageUser) -> HTMLResponse:
    """Re-optimization offers for the user's models: estimate, improved workloads, accept or dismiss, outcomes."""
    with _session(request) as s:
        found = [offer_as_seen_by(s, user, o) for o in offers.list_offers(s, scope=access.visible_models(user))]
        names = dict(s.query(Model.id, Model.name).filter(Model.id.in_({o.model_id for o in found})).all())
        may_act = {
            o.id
            for o in found
            if o.state == "open" and (user.is_admin or user.can_optimize) and _role_allows(s, user, o.model_id)
        }
    return render(request, user, "offers.html", offers=found, names=names, may_act=may_act)


def _role_allows(s: Session, user: User, model_id: str) -> bool:
    role = access.model_role(s, user, catalog.get_model(s, model_id))
    return role in (access.MEMBER, access.OWNER)


@router.post("/offers/{offer_id}/accept", response_class=RedirectResponse)
def accept(request: Request, offer_id: str, user: PageUser, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    if not (user.is_admin or user.can_optimize):
        raise PermissionDenied(f"{user.email} is read-only: accepting an offer needs the can-optimize role")
    state = request.app.state
    offer = accept_as(state.registry, state.workflows, user, offer_id, state.settings.max_workflows_per_user)
    return RedirectResponse(f"/ui/workflows/{offer.workflow_id}", status_code=303)


@router.post("/offers/{offer_id}/dismiss", response_class=RedirectResponse)
def dismiss(request: Request, offer_id: str, user: PageUser, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    if not (user.is_admin or user.can_optimize):
        raise PermissionDenied(f"{user.email} is read-only: dismissing an offer needs the can-optimize role")
    with request.app.state.registry.session() as s:
        access.offer(s, user, offer_id, access.MEMBER)
        offers.dismiss_offer(s, offer_id)
    return RedirectResponse("/ui/offers", status_code=303)


@router.get("/variants/{variant_id}/download")
def download_variant(request: Request, variant_id: str, user: PageUser) -> Response:
    with _session(request) as s:
        variant = access.variant(s, user, variant_id)
    store = request.app.state.registry.artifacts
    return artifact_response(store, variant.artifact_key, variant.artifact_name, f"variant {variant_id}")


@router.get("/packages/{package_id}/download")
def download_package(request: Request, package_id: str, user: PageUser) -> Response:
    with _session(request) as s:
        package = access.package(s, user, package_id)
    store = request.app.state.registry.artifacts
    return artifact_response(store, package.artifact_key, package.artifact_name, f"package {package_id}")
