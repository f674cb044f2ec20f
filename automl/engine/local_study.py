"""A study kept in memory while one process searches it, saved to its SQLite file behind
the search.

The default storage is an SQLite file that only the ``automl search`` process running
the study uses, so the study's hot state can live in that process's memory: Optuna's
samplers and pruners, the budget count and the reports read it at memory speed, and no
epoch waits on a disk write. Measured on the no-op study of ``bench/vs_plain.py``
(200 trials of 10 epochs, TPE + median pruning, 2 cores): SQLite read and written
directly 110 ms per trial, in memory 5.5 ms.

- **Saving.** Every write goes to the in-memory storage (:class:`MirroredStorage`), which
  notes the trial as dirty. The controller calls :meth:`LocalStudy.flush_due` between
  steps: a finished trial is sent at once, running trials' new epochs at most every
  :data:`FLUSH_S` seconds. A writer process (:func:`writer_main`) applies what it gets to
  the SQLite study through Optuna's own RDB storage: a trial first seen finished is one
  ``create_new_trial`` with the whole trial as its template (one transaction), later
  changes are the single writes that changed. The writer has its own process, so its
  SQL costs the search no time under the GIL.
- **What a kill -9 can lose**: the last :data:`FLUSH_S` seconds of epochs of running
  trials, and a trial that finished in the few milliseconds before the kill (it is then
  failed and retried, like a running one). A clean end, an error or Ctrl-C waits until
  the file holds everything.
- **One process at a time.** The search holds an exclusive lock on ``<db>.lock`` for its
  whole run; a second ``automl search`` on the same file is refused with a clear message
  (several processes share a study through PostgreSQL and ``automl worker``, which read
  and write the database directly).
- **Resuming** copies the file's study into memory, numbers included. A trial the file
  holds as running was cut short by a killed search (the lock says nobody else runs it):
  it is failed at once and its params enqueued again, with no heartbeat grace period to
  wait for.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.engine.keys import warm_start_attrs
from automl.errors import AutomlError, UsageError
from automl.execution.spawning import start_process
from automl.log import get_logger

__all__ = ["FLUSH_S", "LocalStudy", "MirroredStorage", "StudyLock", "is_local_url",
           "writer_main"]

logger = get_logger(__name__)

# Running trials' epochs reach the file at most this many seconds after they happened,
# finished trials at most FINISHED_S after they finished (one message for all that finished
# meanwhile: a message per trial woke the writer so often that it cost no-op trials 20 %).
FLUSH_S = float(os.environ.get("AUTOML_FLUSH_S", "1.0"))
FINISHED_S = min(FLUSH_S, 0.25)
# The writer gathers what arrives within this long into one transaction.
BATCH_S = 0.2
# A clean end waits at most this long for the writer to save what is left.
CLOSE_TIMEOUT_S = 300.0


def is_local_url(url: str) -> bool:
    """Whether ``url`` is an SQLite file (the storages a search can hold alone)."""
    return url.startswith("sqlite:///") and url != "sqlite:///:memory:"


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


class StudySaveError(AutomlError):
    """The writer could not save the study to its file (disk full, file removed, ...)."""


# -- the lock ---------------------------------------------------------------------------------
class StudyLock:
    """``flock`` on ``<db>.lock``: exclusive for the search that holds the study in memory,
    shared for processes that read and write the file directly (``automl worker``)."""

    def __init__(self, db: Path, *, exclusive: bool) -> None:
        self.path = db.with_name(db.name + ".lock")
        self.exclusive = exclusive
        self._fh: Any = None

    def acquire(self) -> StudyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fh, mode | fcntl.LOCK_NB)
        except OSError as exc:
            if not isinstance(exc, BlockingIOError):  # a file system without locks (NFS)
                logger.warning("cannot lock %s (%s): make sure no other automl process uses "
                               "this study meanwhile", self.path, exc)
                self._fh = fh
                return self
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise UsageError(
                f"the study file {self.path.with_suffix('')} is in use by {holder}; wait for "
                "it to end, or share a study between processes through PostgreSQL "
                "(`automl search --storage postgresql://...` and `automl worker`)") from None
        if self.exclusive:
            fh.seek(0)
            fh.truncate()
            fh.write(f"automl search (pid {os.getpid()})\n")
            fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


# -- the in-memory side -------------------------------------------------------------------------
class MirroredStorage(InMemoryStorage):
    """Optuna's in-memory storage, noting which trials changed and the study attributes
    written, for :class:`LocalStudy` to save."""

    def __init__(self) -> None:
        super().__init__()
        self.dirty: set[int] = set()  # trial ids
        self.finished: set[int] = set()  # dirty trials that finished: saved at once
        self.study_attrs: list[tuple[str, Any, bool]] = []  # (key, value, system)

    def _mark(self, trial_id: int) -> None:
        self.dirty.add(trial_id)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        with self._lock:
            self._mark(trial_id)
            if template_trial is not None and template_trial.state.is_finished():
                self.finished.add(trial_id)
        return trial_id

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: Any) -> None:
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)
        with self._lock:
            self._mark(trial_id)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        with self._lock:
            self._mark(trial_id)
            if state.is_finished():
                self.finished.add(trial_id)
        return changed

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)
        with self._lock:
            self._mark(trial_id)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_user_attr(trial_id, key, value)
        with self._lock:
            self._mark(trial_id)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_system_attr(trial_id, key, value)
        with self._lock:
            self._mark(trial_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_user_attr(study_id, key, value)
        with self._lock:
            self.study_attrs.append((key, value, False))

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_system_attr(study_id, key, value)
        with self._lock:
            self.study_attrs.append((key, value, True))

    def take(self, everything: bool) -> tuple[list[FrozenTrial], list[tuple[str, Any, bool]]]:
        """What to save next: copies of the dirty trials, in number order, and the study
        attributes written since the last call. Without ``everything``, the finished trials
        and the dirty ones numbered below them only: the file numbers trials in the order
        they are created, so no trial may go before a lower-numbered one, and a short
        trial is best saved once, finished (one write, its own timestamps)."""
        with self._lock:
            if everything:
                ids = set(self.dirty)
            else:
                last = max((self._trial_number(i) for i in self.finished), default=-1)
                ids = {i for i in self.dirty if self._trial_number(i) <= last}
            # No deep copy: the caller pickles them for the writer at once, in this thread.
            trials = sorted((self._get_trial(i) for i in ids), key=lambda t: t.number)
            self.dirty -= ids
            self.finished -= ids
            attrs, self.study_attrs = self.study_attrs, []
        return trials, attrs

    def _trial_number(self, trial_id: int) -> int:
        return self._trial_id_to_study_id_and_number[trial_id][1]


# -- messages to the writer -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Save:
    trials: list[FrozenTrial]
    study_attrs: list[tuple[str, Any, bool]]


@dataclass(frozen=True)
class _Sync:
    token: int


@dataclass(frozen=True)
class _Synced:
    token: int
    error: str | None = None


@dataclass(frozen=True)
class _Close:
    pass


class _Table:
    """One of Optuna's RDB tables, for writing rows through the DB-API connection with
    the exact conversions SQLAlchemy applies (enum names, datetime text, floats)."""

    def __init__(self, table: Any, dialect: Any) -> None:
        self.name = table.name
        self.columns = [c.name for c in table.columns if not c.primary_key]
        self.processors = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect)
                           for c in table.columns}
        marks = ", ".join("?" for _ in self.columns)
        self.insert_sql = f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"

    def row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for column in self.columns:
            value, process = values.get(column), self.processors[column]
            out.append(process(value) if process is not None and value is not None else value)
        return tuple(out)


class _FileWriter:
    """Saves trial snapshots to the study in the file: many in one transaction, each as
    the rows that changed, through Optuna's own table definitions.

    Optuna's ``RDBStorage`` API commits every call on its own and looks rows up before it
    writes them: 13 ms of CPU for one finished trial here, as much as a no-op trial costs
    the whole search; the same rows through SQLAlchemy Core took 1-2 ms, and through the
    DB-API cursor, as here, well under one. The tables, columns and value conversions are
    Optuna's and SQLAlchemy's (``optuna.storages._rdb.models``, the schema Optuna's RDB
    storage creates and reads), so the file stays an ordinary Optuna study that
    ``RDBStorage``, ``automl report`` and optuna-dashboard read (a test reads every field
    of every trial back). The checks Optuna makes on a write (a param's distribution, a
    finished trial's immutability) were made in memory, where the search wrote first.
    """

    def __init__(self, url: str, study_name: str) -> None:
        from optuna.storages._rdb import models

        from automl.engine.studies import make_storage

        storage = make_storage(url, create=False, heartbeat=False)
        self.m = models
        engine = storage.engine  # type: ignore[attr-defined]
        self.tables = {model: _Table(model.__table__, engine.dialect) for model in (
            models.TrialModel, models.TrialParamModel, models.TrialValueModel,
            models.TrialIntermediateValueModel, models.TrialUserAttributeModel,
            models.TrialSystemAttributeModel, models.StudyUserAttributeModel,
            models.StudySystemAttributeModel)}
        self.study_id = storage.get_study_id_from_name(study_name)
        trials = storage.get_all_trials(self.study_id, deepcopy=False)
        self.ids = {t.number: t._trial_id for t in trials}
        self.saved: dict[int, FrozenTrial] = {t.number: t for t in trials}
        self.db = engine.raw_connection()

    def save(self, messages: Sequence[_Save]) -> None:
        """Apply ``messages`` in one transaction."""
        cursor = self.db.cursor()
        try:
            for message in messages:
                for key, value, system in message.study_attrs:
                    self._study_attr(cursor, key, value, system)
                for trial in message.trials:
                    self._trial(cursor, trial)
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        finally:
            cursor.close()

    def _insert(self, cursor: Any, model: Any, rows: Sequence[dict[str, Any]]) -> None:
        table = self.tables[model]
        cursor.executemany(table.insert_sql, [table.row(r) for r in rows])

    def _study_attr(self, cursor: Any, key: str, value: Any, system: bool) -> None:
        model = self.m.StudySystemAttributeModel if system else self.m.StudyUserAttributeModel
        cursor.execute(f"DELETE FROM {self.tables[model].name} WHERE study_id = ? AND key = ?",
                       (self.study_id, key))
        self._insert(cursor, model, [{"study_id": self.study_id, "key": key,
                                      "value_json": json.dumps(value)}])

    def _trial(self, cursor: Any, trial: FrozenTrial) -> None:
        before = self.saved.get(trial.number)
        trials = self.tables[self.m.TrialModel]
        row = {"state": trial.state, "datetime_start": _utc(trial.datetime_start),
               "datetime_complete": _utc(trial.datetime_complete)}
        if before is None:
            if trial.number != len(self.ids):
                raise StudySaveError(f"trial {trial.number} would be saved as number "
                                     f"{len(self.ids)}: another process writes this file")
            cursor.execute(trials.insert_sql, trials.row({"study_id": self.study_id,
                                                          "number": trial.number, **row}))
            trial_id = int(cursor.lastrowid)
            self.ids[trial.number] = trial_id
            before = FrozenTrial(number=trial.number, state=trial.state, value=None,
                                 values=None, datetime_start=None, datetime_complete=None,
                                 params={}, distributions={}, user_attrs={},
                                 system_attrs={}, intermediate_values={}, trial_id=trial_id)
        else:
            trial_id = self.ids[trial.number]
            if (before.state, before.datetime_start, before.datetime_complete) != (
                    trial.state, trial.datetime_start, trial.datetime_complete):
                values = trials.row({**row, "study_id": self.study_id,
                                     "number": trial.number})
                cursor.execute(f"UPDATE {trials.name} SET state = ?, datetime_start = ?, "
                               "datetime_complete = ? WHERE trial_id = ?",
                               (*values[2:], trial_id))
        self._rows(cursor, trial_id, before, trial)
        self.saved[trial.number] = trial

    def _rows(self, cursor: Any, trial_id: int, before: FrozenTrial, after: FrozenTrial) -> None:
        m = self.m
        params = [{"trial_id": trial_id, "param_name": name,
                   "param_value": dist.to_internal_repr(after.params[name]),
                   "distribution_json": optuna.distributions.distribution_to_json(dist)}
                  for name, dist in after.distributions.items()
                  if name not in before.distributions]
        if params:
            self._insert(cursor, m.TrialParamModel, params)
        if after.values != before.values:
            name = self.tables[m.TrialValueModel].name
            cursor.execute(f"DELETE FROM {name} WHERE trial_id = ?", (trial_id,))
            rows = []
            for objective, value in enumerate(after.values or ()):
                stored, kind = m.TrialValueModel.value_to_stored_repr(value)
                rows.append({"trial_id": trial_id, "objective": objective, "value": stored,
                             "value_type": kind})
            self._insert(cursor, m.TrialValueModel, rows)
        model = m.TrialIntermediateValueModel
        changed = {s: v for s, v in after.intermediate_values.items()
                   if s not in before.intermediate_values
                   or not _same(before.intermediate_values[s], v)}
        if changed:
            cursor.executemany(f"DELETE FROM {self.tables[model].name} WHERE trial_id = ? "
                               "AND step = ?", [(trial_id, s) for s in changed])
            rows = []
            for step, value in changed.items():
                stored, kind = model.intermediate_value_to_stored_repr(value)
                rows.append({"trial_id": trial_id, "step": step, "intermediate_value": stored,
                             "intermediate_value_type": kind})
            self._insert(cursor, model, rows)
        for model, old, new in ((m.TrialUserAttributeModel, before.user_attrs, after.user_attrs),
                                (m.TrialSystemAttributeModel, before.system_attrs,
                                 after.system_attrs)):
            keys = [k for k, v in new.items() if k not in old or old[k] != v]
            if keys:
                cursor.executemany(f"DELETE FROM {self.tables[model].name} WHERE trial_id = ? "
                                   "AND key = ?", [(trial_id, k) for k in keys])
                self._insert(cursor, model, [{"trial_id": trial_id, "key": k,
                                              "value_json": json.dumps(new[k])} for k in keys])


def _utc(value: datetime | None) -> datetime | None:
    """A naive local datetime (Optuna's in-memory storage) as the naive UTC the RDB keeps."""
    return None if value is None else value.astimezone(timezone.utc).replace(tzinfo=None)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def writer_main(conn: Connection, url: str, study_name: str) -> None:
    """The body of the writer process: save what comes until told to close, in batches
    (what arrives within :data:`BATCH_S` of a first message goes in one transaction)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the search decides what Ctrl-C means
    with contextlib.suppress(OSError):
        os.nice(10)  # the search's own processes come first; this one catches up after
    writer: _FileWriter | None = None
    error: str | None = None
    while True:
        try:
            batch = [conn.recv()]
            deadline = time.monotonic() + BATCH_S
            while isinstance(batch[-1], _Save) and conn.poll(max(0.0,
                                                              deadline - time.monotonic())):
                batch.append(conn.recv())
        except (EOFError, OSError):
            return  # the search is gone
        saves = [m for m in batch if isinstance(m, _Save)]
        if saves and error is None:
            try:
                writer = writer or _FileWriter(url, study_name)
                writer.save(saves)
            except Exception as exc:  # noqa: BLE001 - reported to the search, which stops
                error = f"{type(exc).__name__}: {exc}"
                conn.send(_Synced(-1, error))
        last = batch[-1]
        if isinstance(last, _Sync):
            conn.send(_Synced(last.token, error))
        elif isinstance(last, _Close):
            return


# -- the study --------------------------------------------------------------------------------
class LocalStudy:
    """The study of one search, in memory, saved to its SQLite file by a writer process.

    Use :meth:`open` (which copies the file's study into memory and starts the writer),
    :meth:`flush_due` between the search's steps and :meth:`close` at the end (which waits
    until the file holds everything).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.storage = MirroredStorage()
        self.lock = StudyLock(sqlite_path(url), exclusive=True)
        self._conn: Connection | None = None
        self._process: Any = None
        self._last_flush = 0.0
        self._last_send = 0.0
        self._token = 0

    def open(self, durable: optuna.storages.BaseStorage, name: str,
             sampler: optuna.samplers.BaseSampler | None = None,
             pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
        """Copy study ``name`` of ``durable`` into memory and start saving behind it.
        Trials the file holds as running (of a killed search) are failed and retried."""
        self.lock.acquire()
        try:
            copy_study(durable, durable.get_study_id_from_name(name), self.storage, name)
            memory_id = self.storage.get_study_id_from_name(name)
            stale = [t for t in self.storage.get_all_trials(memory_id, deepcopy=False)
                     if t.state == TrialState.RUNNING]
            self._start_writer(name)
            study = optuna.load_study(study_name=name, storage=self.storage, sampler=sampler,
                                      pruner=pruner)
            for trial in stale:
                retry_stale(study, trial)
            if stale:
                logger.warning("%d trial(s) were running when the last search of %s was "
                               "killed: failed, and their params queued again", len(stale),
                               name)
        except BaseException:
            self.close(wait=False)
            raise
        return study

    def _start_writer(self, name: str) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=writer_main, args=(child, self.url, name),
                                    daemon=True, name="automl-study-writer")
        start_process(self._process)
        child.close()
        self._conn = parent

    def flush_due(self, force: bool = False) -> None:
        """Send what is due to the writer: finished trials always, running trials' changes
        every :data:`FLUSH_S` seconds (``force``: now)."""
        now = time.monotonic()
        storage = self.storage
        due = force or now - self._last_flush >= FLUSH_S
        soon = force or now - self._last_send >= FINISHED_S
        if not ((soon and (storage.finished or storage.study_attrs))
                or (due and storage.dirty)):
            return
        self._check_writer()
        trials, attrs = storage.take(everything=due)
        self._last_send = now
        if due:
            self._last_flush = now
        if (trials or attrs) and self._conn is not None:
            try:
                self._conn.send(_Save(trials, attrs))
            except (BrokenPipeError, OSError):
                raise self._died() from None

    def _died(self) -> StudySaveError:
        return StudySaveError(f"the study writer process died; the last results may be "
                              f"missing from {sqlite_path(self.url)}")

    def _check_writer(self) -> None:
        if self._conn is None:
            return
        try:
            while self._conn.poll():
                self._reply(self._conn.recv())
        except (EOFError, OSError):
            raise self._died() from None

    def _reply(self, reply: Any) -> _Synced | None:
        if isinstance(reply, _Synced) and reply.error:
            raise StudySaveError(f"could not save the study to {sqlite_path(self.url)}: "
                                 f"{reply.error}")
        return reply if isinstance(reply, _Synced) else None

    def sync(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Send everything and wait until the writer has saved it."""
        self.flush_due(force=True)
        if self._conn is None:
            return
        self._token += 1
        deadline = time.monotonic() + timeout
        try:
            self._conn.send(_Sync(self._token))
            while time.monotonic() < deadline:
                if not self._conn.poll(min(1.0, max(0.0, deadline - time.monotonic()))):
                    if not self._process.is_alive():
                        raise self._died()
                    continue
                reply = self._reply(self._conn.recv())
                if reply is not None and reply.token == self._token:
                    return
        except (EOFError, OSError):
            raise self._died() from None
        raise StudySaveError(f"saving the study to {sqlite_path(self.url)} took over "
                             f"{timeout:.0f}s")

    def close(self, wait: bool = True) -> None:
        """Save everything (``wait``), stop the writer and release the lock."""
        try:
            if wait:
                self.sync()
        finally:
            if self._conn is not None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    self._conn.send(_Close())
                self._conn.close()
                self._conn = None
            if self._process is not None:
                self._process.join(timeout=30)
                if self._process.is_alive():
                    self._process.kill()
                self._process = None
            self.lock.release()


def copy_study(source: optuna.storages.BaseStorage, study_id: int,
               target: optuna.storages.BaseStorage, name: str) -> None:
    """Copy study ``study_id`` of ``source`` into ``target``, trial numbers included."""
    directions: list[StudyDirection] = source.get_study_directions(study_id)
    new_id = target.create_new_study(directions, name)
    for key, value in source.get_study_user_attrs(study_id).items():
        target.set_study_user_attr(new_id, key, value)
    for key, value in source.get_study_system_attrs(study_id).items():
        target.set_study_system_attr(new_id, key, value)
    for trial in source.get_all_trials(study_id, deepcopy=False):
        target.create_new_trial(new_id, template_trial=trial)
    if isinstance(target, MirroredStorage):  # what came from the file needs no saving
        target.dirty.clear()
        target.finished.clear()
        target.study_attrs.clear()


def retry_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Fail a trial cut short by a killed process and enqueue its params again (what
    Optuna's ``RetryHeartbeatStaleTrialCallback`` does for a stale heartbeat)."""
    storage = study._storage
    storage.set_trial_system_attr(trial._trial_id, "fail_reason",
                                  "the search running it was killed")
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    study.enqueue_trial(dict(trial.params), user_attrs=warm_start_attrs(trial),
                        skip_if_exists=False)


@contextlib.contextmanager
def shared_lock(url: str) -> Iterator[None]:
    """Hold a shared lock on an SQLite study file while a process reads and writes it
    directly (``automl worker``), so that no search holds it in memory meanwhile."""
    if not is_local_url(url):
        yield
        return
    lock = StudyLock(sqlite_path(url), exclusive=False).acquire()
    try:
        yield
    finally:
        lock.release()

