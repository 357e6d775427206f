"""Experiments over HTTP: client feedback, and the admin report and kill switch.

    POST /feedback                          {"request_id": "...", "value": 4.5 | true}
    GET  /admin/experiments                 every experiment, with statistics and a verdict
    GET  /admin/experiments/{id}
    POST /admin/experiments/{id}/stop       no new enrolments; statistics kept
    POST /admin/experiments/{id}/pause      the same, meant to be resumed
    POST /admin/experiments/{id}/resume     (or /start) enrol again

Status changes take effect on the next request. In-process they are per process, like the statistics
and the feedback log; with Redis every replica shares them (gateway.backend).
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from gateway.endpoints.common import client_key, json_body, json_response, require_admin, state_of
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.experiments.config import PAUSED, RUNNING, STOPPED
from gateway.experiments.feedback import owner_of
from gateway.experiments.registry import ExperimentRun
from gateway.experiments.report import experiment_report
from gateway.experiments.shared import merged_run

ACTIONS = {"stop": STOPPED, "pause": PAUSED, "resume": RUNNING, "start": RUNNING}


class FeedbackConflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "feedback_already_recorded"


async def feedback(request: Request) -> Response:
    body = await json_body(request)
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise InvalidRequest(
            "'request_id' is required: the x-request-id of the response.", param="request_id"
        )
    value = body.get("value")
    if not isinstance(value, (int, float)) or not math.isfinite(value):  # bool is an int: true -> 1.0
        raise InvalidRequest("'value' must be a number or a boolean.", param="value")
    value = float(value)
    state = state_of(request)
    registry = state.experiments
    # only the key that made the request may rate it (admin keys included): another client's id is as
    # unknown as any other
    owner = owner_of(client_key(request))
    served = registry.feedback.lookup(request_id, owner)
    experiment, variant = (served.experiment, served.variant) if served is not None else (None, None)
    if served is None:  # served by another replica? (Redis; in-process there is none)
        shared = await state.backend.shared_feedback(request_id, owner)
        if shared is not None:
            experiment, variant = shared.get("experiment"), shared.get("variant")
    run = registry.get(experiment) if isinstance(experiment, str) else None
    if run is None or variant not in run.spec.models:
        ttl = registry.feedback.ttl
        raise NotFound(
            f"No experiment request with id '{request_id}': unknown, older than {ttl:g} s, "
            "or not enrolled in an experiment.",
            param="request_id",
            code="request_not_found",
        )
    first = await state.backend.claim_feedback(request_id, owner, registry.feedback.ttl)
    if (served is not None and served.rated) or not first:
        raise FeedbackConflict(
            f"Feedback for request '{request_id}' was already recorded.", param="request_id"
        )
    if served is not None:
        served.rated = True
    run.variants[run.spec.models.index(variant)].add_feedback(value)
    return json_response(
        {"status": "recorded", "request_id": request_id, "experiment": run.id, "variant": variant}
    )


def _run(request: Request) -> ExperimentRun:
    experiment_id = request.path_params["experiment_id"]
    run = state_of(request).experiments.get(experiment_id)
    if run is None:
        raise NotFound(f"No experiment '{experiment_id}' is configured.", code="experiment_not_found")
    return run


async def _everywhere(request: Request, runs: list[ExperimentRun]) -> list[ExperimentRun]:
    """`runs` with the counters of every replica (from the state backend; in-process: as they are)."""
    others = await state_of(request).backend.experiment_stats([run.id for run in runs])
    return [merged_run(run, others.get(run.id, ())) for run in runs]


async def list_experiments(request: Request) -> Response:
    require_admin(request)
    runs = await _everywhere(request, list(state_of(request).experiments))
    return json_response({"experiments": [experiment_report(run) for run in runs]})


async def get_experiment(request: Request) -> Response:
    require_admin(request)
    (run,) = await _everywhere(request, [_run(request)])
    return json_response(experiment_report(run))


async def change_status(request: Request) -> Response:
    require_admin(request)
    run = _run(request)
    action = request.path_params["action"]
    status = ACTIONS.get(action)
    if status is None:
        raise NotFound(f"Unknown experiment action '{action}' (one of: {', '.join(ACTIONS)}).")
    previous = run.status
    key = client_key(request)
    who = key.name if key is not None else "anonymous"
    state = state_of(request)
    state.experiments.set_status(run.id, status, f"{action} by admin API ({who})")
    await state.backend.publish_experiment(run.id, run.status, run.status_reason, run.status_changed_at)
    return json_response({"id": run.id, "status": run.status, "previous_status": previous})
