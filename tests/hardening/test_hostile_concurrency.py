"""Processes that start one study at the same moment sample different configurations.

Two ``automl search --storage URL`` (or ``automl worker``) processes started together see
the same trial count; were their samplers seeded from the spec's seed and that count alone,
they would draw the same first configurations and train each one twice.
"""

from __future__ import annotations

import os
import uuid

import optuna
import pytest

from automl.engine.controller import Controller
from automl.engine.study_setup import sampler_seed
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec

URL = os.environ.get("AUTOML_TEST_POSTGRES_URL")
SPACE = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}


def test_a_lone_process_keeps_its_reproducible_seed() -> None:
    assert sampler_seed(7, 0, shared=False) == 7
    assert sampler_seed(7, 5, shared=False) == sampler_seed(7, 5, shared=False) != 7


def test_processes_sharing_a_study_get_distinct_seeds() -> None:
    # same seed, same count, same host: what two processes started at once would see
    seeds = {sampler_seed(0, 0, shared=True) for _ in range(200)}
    assert len(seeds) == 200
    assert all(0 <= s < 2**31 for s in seeds)


@pytest.mark.slow
@pytest.mark.skipif(not URL, reason="no PostgreSQL (AUTOML_TEST_POSTGRES_URL)")
def test_two_searches_opened_at_once_on_a_server_draw_different_first_trials(
        write_spec: Spec, global_host: PluginHost, in_tmp: object) -> None:
    name = f"pg-{uuid.uuid4().hex[:8]}"
    path = write_spec(CURVE_SPEC)
    overrides = {"execution.storage": str(URL), "study": name}
    # both open before either asks: each sees a fresh study with no trials
    handles = [Controller(load_spec(path, overrides), global_host).open() for _ in range(2)]
    try:
        firsts = [[h.study.ask(SPACE).params["x"] for _ in range(3)] for h in handles]
    finally:
        for handle in handles:
            handle.close()
    assert not set(firsts[0]) & set(firsts[1]), firsts
