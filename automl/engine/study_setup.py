"""Creating, resuming and joining the study of a search: what the controller does before
its first trial.

A search on an SQLite file holds the study in memory and saves it behind the search
(:mod:`automl.engine.local_study`); a process that joins a study (``automl worker``), and
any search on a database server, reads and writes the storage directly, with heartbeats.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from automl.engine.components import build_algorithms
from automl.engine.keys import STUDY_RECORD, WARM_START
from automl.engine.local_study import LocalStudy, is_local_url, shared_lock
from automl.engine.space import to_optuna_params
from automl.engine.spec_changes import check_resumed_spec
from automl.engine.studies import (
    count_trials,
    default_storage_url,
    load_study,
    make_storage,
    open_study,
    report_dir_of,
)
from automl.errors import UsageError
from automl.log import get_logger
from automl.plugin.host import PluginHost
from automl.spec import Spec

__all__ = ["SearchStudy", "open_search_study", "stored_spec"]

logger = get_logger(__name__)


@dataclass
class SearchStudy:
    """The study a search runs on, and how it is kept (:meth:`flush_due`, :meth:`close`)."""

    study: optuna.Study
    sampler: optuna.samplers.BaseSampler
    local: LocalStudy | None = None  # held in memory, saved behind the search
    _exit: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def flush_due(self) -> None:
        """Save what is due (a no-op for a study read and written directly)."""
        if self.local is not None:
            self.local.flush_due()

    def close(self, wait: bool = True) -> None:
        """Save everything (``wait``) and let the study go."""
        try:
            if self.local is not None:
                self.local.close(wait=wait)
        finally:
            self._exit.close()


def open_search_study(spec: Spec, host: PluginHost, storage_url: str, seed: int,
                      trainer: str, data_sizes: Mapping[str, int],
                      extra_enqueue: Sequence[Mapping[str, Any]] = (), *, join: bool = False
                      ) -> SearchStudy:
    """Create or load the study ``spec`` describes and enqueue its warm-start configs.

    A new study gets the spec's ``enqueue`` configs; ``extra_enqueue`` (``--enqueue
    FILE``) is added on every run. ``join`` (``automl worker``) never creates the study or
    its schema. On an SQLite file a search holds the study in memory (one process at a
    time); joining, or a server, uses the storage directly.
    """
    local = is_local_url(storage_url) and not join
    exit_stack = contextlib.ExitStack()
    if not local:  # no search may hold the file in memory while this process writes it
        exit_stack.enter_context(shared_lock(storage_url))
    try:
        handle = _open(spec, host, storage_url, seed, trainer, data_sizes, extra_enqueue,
                       join=join, local=local)
    except BaseException:
        exit_stack.close()
        raise
    handle._exit = exit_stack
    return handle


def _open(spec: Spec, host: PluginHost, storage_url: str, seed: int, trainer: str,
          data_sizes: Mapping[str, int], extra_enqueue: Sequence[Mapping[str, Any]], *,
          join: bool, local: bool) -> SearchStudy:
    # Only the default storage (in the report folder) may create its folder: an explicit
    # sqlite:/// URL into a folder that does not exist is a typo, refused.
    report_dir = report_dir_of(spec)
    storage = make_storage(storage_url, create=not join, heartbeat=not local,
                           make_folder=storage_url == default_storage_url(report_dir))
    existing = count_trials(storage, spec.study)
    if join and existing == 0 and spec.study not in optuna.get_all_study_names(storage):
        raise UsageError(f"no study {spec.study!r} to join at that storage; start it "
                         "with `automl search --storage URL` first")
    run_seed = sampler_seed(seed, existing, shared=not local)
    sampler, pruner = build_algorithms(spec, run_seed, host)
    record = {"spec": spec.to_dict(), "seed": seed,
              "objectives": [{"metric": o.metric, "direction": o.direction}
                             for o in spec.objectives],
              "constraints": [str(c) for c in spec.constraints],
              "trainer": trainer, "data": dict(data_sizes)}
    study, created = open_study(spec.study, storage, [o.direction for o in spec.objectives],
                                sampler, pruner, record)
    if not join and study.metric_names != [o.metric for o in spec.objectives]:
        # optuna-dashboard and Optuna's own plots label the objectives by these names.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([o.metric for o in spec.objectives])
    if not created and not join:
        _take_spec_changes(study, spec)
    handle = SearchStudy(study, sampler)
    if local:
        handle.local = LocalStudy(storage_url)
        handle.study = handle.local.open(storage, spec.study, sampler, pruner)
    try:
        for config in [*(spec.enqueue if created else ()), *extra_enqueue]:
            handle.study.enqueue_trial(to_optuna_params(spec.params, config),
                                       user_attrs={WARM_START: True}, skip_if_exists=True)
    except BaseException:
        handle.close(wait=False)
        raise
    return handle


def sampler_seed(seed: int, existing: int, *, shared: bool) -> int:
    """The seed of this process's sampler, for a study that has ``existing`` trials.

    A resumed run must not replay the first run's random draws (random, qmc, the TPE
    start-up): its seed comes from the seed and how far the study got. Processes that share
    a study on a server (``automl search --storage`` twice, ``automl worker``) may start at
    the same moment and see the same count, so each also mixes in its own host and process
    id: they sample different first configurations. Such a study is not reproducible draw
    for draw anyway (which process takes which trial is timing).
    """
    if not shared:
        return seed if existing == 0 else (seed * 1_000_003 + existing) % 2**31
    token = f"{seed}:{existing}:{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    return int.from_bytes(hashlib.sha256(token.encode()).digest()[:4], "big") % 2**31


def _take_spec_changes(study: optuna.Study, spec: Spec) -> None:
    """Refuse a resumed study's edits that would mix experiments; apply and say the rest.

    The record keeps the latest spec, so ``automl worker`` processes that join later read
    the new budget.
    """
    record = dict(study.user_attrs.get(STUDY_RECORD) or {})
    if "spec" not in record:
        return
    from automl.redaction import redact_spec

    # Compared (and logged, and stored) without the storage URL's password.
    changes = check_resumed_spec(spec.study, record["spec"], redact_spec(spec.to_dict()))
    if changes:
        logger.warning("study %s resumed with %s", spec.study,
                       "; ".join(str(c) for c in changes))
        stored = json.loads(json.dumps(redact_spec(spec.to_dict()), default=str))
        # execution.storage is this machine's view of where the study is: keep the first.
        stored.setdefault("execution", {})["storage"] = \
            record["spec"].get("execution", {}).get("storage")
        study.set_user_attr(STUDY_RECORD, {**record, "spec": stored})


def stored_spec(study: str, storage: str, overrides: Mapping[str, Any] | None = None,
                sets: Mapping[str, str] | None = None) -> Spec:
    """The spec a study was created with (``automl worker``), adapted by ``overrides``
    (dotted keys, values as they are) and ``sets`` (``--set`` options: dotted keys, values
    read as YAML) to this machine, with ``storage`` as its storage."""
    record = load_study(study, storage).user_attrs.get(STUDY_RECORD)
    if not record or "spec" not in record:
        raise UsageError(f"study {study!r} was not created by `automl search`: no spec in it")
    data = record["spec"]
    for key, value in (overrides or {}).items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    if sets:
        from automl.spec.overrides import apply_overrides

        apply_overrides(data, sets)
    data.setdefault("execution", {})["storage"] = storage
    return Spec.from_data(data)
