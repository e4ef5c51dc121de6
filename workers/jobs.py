"""Jobs: long work asked for over HTTP (a close of business, a dry run, a large import) or by the
nightly cron, run by the arq worker when Redis is configured and in-process on the embedded
default — the same code either way.

A job is a row of ``jobs`` with a forward-only state (queued → running → succeeded | failed).
Whoever runs it claims it with a conditional update (so a second delivery of the same job by arq
runs nothing), stamps a heartbeat while it works, and records the result or the error. A job
whose process died (killed, restarted, out of memory) is marked failed by the next sweep —
at the start of every web app and worker, and every half minute after — never left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cob.nightly import Planning, dry_run_plan, run_cob
from service.contact.promise_keeping import after_import
from service.db import dialect
from service.db.models import Job, JobKind, JobState
from service.errors import ArrearsError, NotFound
from service.ingest import uploads
from service.ingest.files import FILES_BY_NAME
from service.ingest.pipeline import ImportOptions, import_files
from service.ingest.runs import sweep_interrupted
from service.processes import HEARTBEAT, STALE_AFTER, is_alive, process_identity
from workers.deps import Dependencies

log = structlog.get_logger(__name__)

# A queued job nobody has started in this long was lost with its queue (Redis flushed).
NEVER_STARTED = dt.timedelta(hours=6)
UNFINISHED = (JobState.queued, JobState.running)


# --- the jobs table ------------------------------------------------------------------------------


async def create_job(
    db: AsyncEngine, kind: JobKind, params: Mapping[str, Any], actor: str, runner: str
) -> int:
    async with db.begin() as conn:
        job_id = await conn.scalar(
            insert(Job)
            .values(
                kind=kind,
                state=JobState.queued,
                params=dict(params),
                progress={},
                runner=runner,
                actor=actor,
            )
            .returning(Job.id)
        )
    assert job_id is not None
    return int(job_id)


def job_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind.value,
        "state": row.state.value,
        "params": row.params,
        "progress": row.progress,
        "result": row.result,
        "error": row.error,
        "actor": row.actor,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }


async def get_job(db: AsyncEngine, job_id: int) -> dict[str, Any]:
    async with db.connect() as conn:
        row = (await conn.execute(select(Job).where(Job.id == job_id))).one_or_none()
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return job_view(row)


async def list_jobs(db: AsyncEngine, *, limit: int, offset: int) -> dict[str, Any]:
    async with db.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(Job))
        rows = await conn.execute(select(Job).order_by(Job.id.desc()).limit(limit).offset(offset))
        return {"total": int(total or 0), "items": [job_view(row) for row in rows]}


async def sweep(db: AsyncEngine, now: dt.datetime, var_dir: Path | None = None) -> int:
    """Mark failed the unfinished jobs whose process is gone; returns how many. Then close the
    imports such a process left running (``interrupted``) and, given ``var_dir``, remove the
    uploads no unfinished job or live process will read (service.ingest.uploads).

    Gone: a process on this host whose pid no longer runs (a restart finds its own dead jobs at
    once), or any process silent for :data:`STALE_AFTER`; a queued job nobody started within
    :data:`NEVER_STARTED` (an in-process one: within :data:`STALE_AFTER`). This process's own
    jobs are alive by definition.
    """
    failed = await _sweep_jobs(db, now)
    await sweep_interrupted(db, now)
    if var_dir is not None:
        async with db.connect() as conn:
            waiting = (
                await conn.scalars(
                    select(Job.params).where(
                        Job.kind == JobKind.import_files, Job.state.in_(UNFINISHED)
                    )
                )
            ).all()
        directories = [str(params.get("directory", "")) for params in waiting]
        await asyncio.to_thread(uploads.sweep_uploads, var_dir, directories, now)
    return failed


async def _sweep_jobs(db: AsyncEngine, now: dt.datetime) -> int:
    me = process_identity()
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Job.id, Job.state, Job.runner, Job.owner, Job.heartbeat_at, Job.created_at
                ).where(Job.state.in_(UNFINISHED))
            )
        ).all()
    dead: dict[int, str] = {}
    for job_id, state, runner, owner, heartbeat, created in rows:
        if owner == me:
            continue
        if state is JobState.queued:
            # An in-process job is claimed the moment it is queued, by the process that queued it.
            if runner == InProcessJobs.runner and created < now - STALE_AFTER:
                dead[job_id] = "never started: the process that queued it stopped"
            elif created < now - NEVER_STARTED:
                dead[job_id] = "never started: its queue was lost"
            continue
        if owner and is_alive(owner) is False:
            dead[job_id] = "interrupted: the process running it stopped"
        elif heartbeat is None or heartbeat < now - STALE_AFTER:
            dead[job_id] = "interrupted: the process running it went silent"
    for job_id, reason in dead.items():
        await _finish(db, job_id, JobState.failed, error=reason, from_states=UNFINISHED, now=now)
        log.warning("job.orphan_failed", job=job_id, reason=reason)
    return len(dead)


async def _finish(
    db: AsyncEngine,
    job_id: int,
    state: JobState,
    *,
    now: dt.datetime,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    progress: Progress | None = None,
    from_states: tuple[JobState, ...] = (JobState.running,),
) -> bool:
    values: dict[str, Any] = {"state": state, "result": result, "error": error, "finished_at": now}
    if progress is not None:
        values["progress"] = dict(progress.values)  # where it ended, or where it stopped
    async with db.begin() as conn:
        changed = await conn.execute(
            update(Job).where(Job.id == job_id, Job.state.in_(from_states)).values(**values)
        )
    return bool(changed.rowcount)


# --- running one -------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Progress:
    """What a running job reports: the step it is in and, for imports, the file and bytes. Only
    kept in memory by the work itself (never awaited there); the heartbeat writes it."""

    values: dict[str, Any] = dataclasses.field(default_factory=dict)

    def step(self, name: str) -> None:
        self.values["step"] = name

    # The import pipeline's progress protocol: bytes of each file as it streams in.
    def start(self, file: str, total_bytes: int) -> None:
        self.values.update(step="import", file=file, total_bytes=total_bytes, done_bytes=0)

    def advance(self, done_bytes: int) -> None:
        self.values["done_bytes"] = done_bytes

    def finish(self) -> None:
        self.values["done_bytes"] = self.values.get("total_bytes", 0)


Work = Callable[[Dependencies, Mapping[str, Any], Progress], Awaitable[dict[str, Any]]]


_CLAIM_TRIES = 6


async def _claim(deps: Dependencies, job_id: int) -> Any:
    """The job taken queued → running, or None when another took it. The one short write is
    tried again when it lost its turn (SQLite's writer busy past its timeout with a night, a
    PostgreSQL deadlock); a failure after that leaves it queued, for the sweep."""
    for attempt in range(1, _CLAIM_TRIES + 1):
        now = deps.clock.now()
        try:
            async with deps.engine.begin() as conn:
                claimed = await conn.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == JobState.queued)
                    .values(
                        state=JobState.running,
                        owner=process_identity(),
                        started_at=now,
                        heartbeat_at=now,
                    )
                    .returning(Job.kind, Job.params)
                )
                return claimed.one_or_none()
        except DBAPIError as exc:
            if not dialect.try_again(exc) or attempt == _CLAIM_TRIES:
                raise
            log.info("job.claim_retry", job=job_id, attempt=attempt)
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


async def run_job(deps: Dependencies, job_id: int, turn: asyncio.Lock | None = None) -> None:
    """Claim the job and do it (holding ``turn`` while it works, when given). A job already
    claimed or finished is left alone: arq delivers at least once, and a retry after a crash
    must not resurrect a job marked failed."""
    row = await _claim(deps, job_id)
    if row is None:
        log.info("job.not_claimed", job=job_id)
        return
    kind, params = JobKind(row.kind), dict(row.params)
    structlog.contextvars.bind_contextvars(job=job_id)
    progress = Progress()
    beating = asyncio.ensure_future(_heartbeat(deps, job_id, progress))
    # Failed unless the work returns; a cancellation (shutdown) is recorded, then re-raised.
    state = JobState.failed
    result: dict[str, Any] | None = None
    error: str | None = "interrupted: shut down"
    try:
        log.info("job.started", kind=kind.value)
        if turn is not None and turn.locked():
            progress.step("waiting for the job before it")
        async with turn or contextlib.nullcontext():
            result = await WORK[kind](deps, params, progress)
        state, error = JobState.succeeded, None
    except Exception as exc:
        error = exc.message if isinstance(exc, ArrearsError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ArrearsError):
            log.exception("job.failed", kind=kind.value)
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        await _finish(
            deps.engine,
            job_id,
            state,
            result=result,
            error=error,
            progress=progress,
            now=deps.clock.now(),
        )
        log.info(f"job.{state.value}", kind=kind.value)
        structlog.contextvars.unbind_contextvars("job")


async def _heartbeat(deps: Dependencies, job_id: int, progress: Progress) -> None:
    """Stamp the job alive and write its progress, until cancelled. Best effort: the work may
    hold the database (SQLite's one writer) for a while; a missed beat is only a later one."""
    while True:
        await asyncio.sleep(HEARTBEAT.total_seconds())
        try:
            async with deps.engine.begin() as conn:
                await conn.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == JobState.running)
                    .values(heartbeat_at=deps.clock.now(), progress=dict(progress.values))
                )
        except Exception:  # the next beat tries again; the work itself is not disturbed
            log.warning("job.heartbeat_missed", job=job_id, exc_info=True)


# --- the kinds of work ---------------------------------------------------------------------------


async def _close_of_business(
    deps: Dependencies, params: Mapping[str, Any], progress: Progress
) -> dict[str, Any]:
    settings = deps.settings
    as_of = dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else deps.today()
    report = await run_cob(
        deps.engine,
        as_of,
        settings.cob_config(),
        actor=str(params.get("actor") or "worker"),
        retention_days=settings.snapshot_retention_days,
        planning=Planning(deps.strategies, settings),
        progress=progress.step,
    )
    return report.as_dict()


async def _dry_run(
    deps: Dependencies, params: Mapping[str, Any], progress: Progress
) -> dict[str, Any]:
    report = await dry_run_plan(
        deps.engine,
        dt.date.fromisoformat(params["for"]),
        deps.settings.cob_config(),
        Planning(deps.strategies, deps.settings),
        progress=progress.step,
    )
    return report.as_dict()


async def _import_files(
    deps: Dependencies, params: Mapping[str, Any], progress: Progress
) -> dict[str, Any]:
    """An upload staged under the shared ``var/uploads`` (web and workers see the same files)."""
    settings = deps.settings
    directory = Path(params["directory"])
    try:
        specs = [spec for name, spec in FILES_BY_NAME.items() if name in params["files"]]
        report = await import_files(
            deps.engine,
            [(spec, directory / spec.file) for spec in specs],
            ImportOptions(
                default_region=settings.default_phone_region,
                chunk_rows=settings.import_chunk_rows,
                source=str(params.get("source", "api")),
                actor=str(params.get("actor", "api")),
                actor_id=params.get("actor_id"),
                refresh_as_of=deps.today(),
                cob=settings.cob_config(),
                after_refresh=after_import(
                    settings.promise_grace_days, str(params.get("actor", "api"))
                ),
            ),
            progress,
            label=str(params.get("label", "")),
        )
    finally:
        await asyncio.to_thread(uploads.remove, directory)
    return report.as_dict()


WORK: dict[JobKind, Work] = {
    JobKind.close_of_business: _close_of_business,
    JobKind.dry_run: _dry_run,
    JobKind.import_files: _import_files,
}


# --- who runs them -------------------------------------------------------------------------------

# arq's queue, shared by the web app (which enqueues) and the workers.
QUEUE_NAME = "arrears:queue"
RUN_JOB = "run_job_task"


class JobRunner(Protocol):
    """Whoever runs the jobs of this process: itself, or the arq workers."""

    runner: str

    async def submit(self, job_id: int) -> None: ...

    async def close(self) -> None: ...


class InProcessJobs:
    """The embedded default's runner: each job an asyncio task of this process. Shutting down
    cancels them, and each is then marked failed ("interrupted: shut down").

    On SQLite the jobs take turns: it has one writer at a time, and a night or an import
    waiting behind another for longer than the busy timeout would fail "database is locked".
    Each is claimed (running) at once and says it is waiting for the job before it."""

    runner = "inprocess"

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.tasks: set[asyncio.Task[None]] = set()
        self.turn = None if dialect.is_postgresql(deps.engine) else asyncio.Lock()

    async def submit(self, job_id: int) -> None:
        task = asyncio.ensure_future(run_job(self.deps, job_id, self.turn))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Only the claim can raise (the work's errors are recorded on the job): the job
            # stays queued, and the sweep marks it failed.
            log.error("job.not_started", exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class ArqJobs:
    """With Redis: the job is enqueued for the arq workers (arq's job id is ours, so enqueueing
    twice delivers once; the claim in :func:`run_job` makes a second delivery harmless)."""

    runner = "arq"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def submit(self, job_id: int) -> None:
        await self.pool.enqueue_job(
            RUN_JOB, job_id, _job_id=f"arrears-job-{job_id}", _queue_name=QUEUE_NAME
        )

    async def close(self) -> None:
        pass


async def submit(
    db: AsyncEngine,
    jobs: JobRunner,
    kind: JobKind,
    params: Mapping[str, Any],
    actor: str,
) -> int:
    """Record a job and hand it to whoever runs jobs here; returns its id at once."""
    job_id = await create_job(db, kind, params, actor, jobs.runner)
    await jobs.submit(job_id)
    return job_id


async def sweep_every(deps: Dependencies, period: dt.timedelta = STALE_AFTER / 2) -> None:
    """Sweep for orphaned jobs now and then every ``period``, until cancelled."""
    while True:
        try:
            await sweep(deps.engine, deps.clock.now(), deps.settings.var_dir)
        except Exception:  # a database hiccup: the next sweep tries again
            log.warning("job.sweep_failed", exc_info=True)
        await asyncio.sleep(period.total_seconds())
