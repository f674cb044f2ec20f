"""Creating, resuming and joining the study of a search: what the controller does before
its first trial."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from automl.errors import UsageError
from automl.plugin.host import PluginHost
from automl.search.components import build_algorithms
from automl.search.keys import STUDY_RECORD
from automl.search.space import to_optuna_params
from automl.search.studies import count_trials, load_study, make_storage, open_study
from automl.spec import Spec

__all__ = ["open_search_study", "stored_spec"]


def open_search_study(spec: Spec, host: PluginHost, storage_url: str, seed: int,
                      trainer: str, data_sizes: Mapping[str, int],
                      extra_enqueue: Sequence[Mapping[str, Any]] = (), *, join: bool = False
                      ) -> tuple[optuna.Study, optuna.samplers.BaseSampler]:
    """Create or load the study ``spec`` describes and enqueue its warm-start configs.

    A new study gets the spec's ``enqueue`` configs; ``extra_enqueue`` (``--enqueue
    FILE``) is added on every run. ``join`` (``automl worker``) never creates the study or
    its schema. Returns the study and its sampler.
    """
    storage = make_storage(storage_url, create=not join)
    existing = count_trials(storage, spec.study)
    if join and existing == 0 and spec.study not in optuna.get_all_study_names(storage):
        raise UsageError(f"no study {spec.study!r} to join at that storage; start it "
                         "with `automl search --storage URL` first")
    # A resumed (or joining) run must not replay the first run's random draws (random,
    # qmc, the TPE start-up): derive its seed from the seed and how far the study got.
    run_seed = seed if existing == 0 else (seed * 1_000_003 + existing) % 2**31
    sampler, pruner = build_algorithms(spec, run_seed, host)
    record = {"spec": spec.to_dict(), "seed": seed,
              "objectives": [{"metric": o.metric, "direction": o.direction}
                             for o in spec.objectives],
              "constraints": [str(c) for c in spec.constraints],
              "trainer": trainer, "data": dict(data_sizes)}
    study, created = open_study(spec.study, storage, [o.direction for o in spec.objectives],
                                sampler, pruner, record)
    for config in [*(spec.enqueue if created else ()), *extra_enqueue]:
        study.enqueue_trial(to_optuna_params(spec.params, config), skip_if_exists=True)
    return study, sampler


def stored_spec(study: str, storage: str, overrides: Mapping[str, Any] | None = None) -> Spec:
    """The spec a study was created with (``automl worker``), adapted by ``overrides``
    (dotted keys) to this machine, with ``storage`` as its storage."""
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
    data.setdefault("execution", {})["storage"] = storage
    return Spec.from_data(data)
