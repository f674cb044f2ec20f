"""``automl search``, ``automl worker`` and ``automl validate``."""

from __future__ import annotations

from typing import Any

import click

from automl.log import configure
from automl.spec import Spec, load_spec, parse_set_options, resolve_space_path

_space = click.option("--space", "space", required=True, metavar="FILE",
                      help="Spec file, or the name of a bundled one (`automl spaces`).")
_set = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                    help="Override any spec key, e.g. --set budget.max_epochs=10 (repeatable).")


def _load(space: str, sets: tuple[str, ...], shortcuts: dict[str, object]) -> Spec:
    overrides = {k: str(v) for k, v in shortcuts.items() if v is not None}
    overrides.update(parse_set_options(list(sets)))
    return load_spec(resolve_space_path(space), overrides)


@click.command()
@_space
@click.option("--trials", type=click.IntRange(min=1),
              help="Budget: the study's total of finished trials, counting those of earlier "
                   "runs of the same study (a resumed search runs only the difference; "
                   "`automl studies` shows the count).")
@click.option("--timeout", metavar="DURATION", help="Budget: wall time of this run (90s, 10m, 2h).")
@click.option("--workers", type=click.IntRange(min=0),
              help="Trial processes on this machine (0: in this process, for debugging).")
@click.option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:0,1.")
@click.option("--storage", metavar="URL", help="Optuna storage URL (default: SQLite in the "
              "report folder; postgresql://... to share the study with `automl worker`).")
@click.option("--study", metavar="NAME", help="Study name (default: the spec's).")
@click.option("--seed", type=int, help="Sampler seed.")
@click.option("--enqueue", "enqueue_file", metavar="FILE",
              help="YAML/JSON list of configs to try first (checked against the space).")
@_set
@click.option("-v", "--verbose", count=True, help="More log output.")
def search(space: str, trials: int | None, timeout: str | None, workers: int | None,
           device: str | None, storage: str | None, study: str | None, seed: int | None,
           enqueue_file: str | None, sets: tuple[str, ...], verbose: int) -> None:
    """Run (or resume) a search; the reports are kept current as trials finish."""
    from automl.engine.controller import search as run_search
    from automl.spec.enqueue import load_enqueue_file

    _quiet_optuna(verbose)
    spec = _load(space, sets, {"budget.trials": trials, "budget.timeout": timeout,
                               "execution.workers": workers, "execution.device": device,
                               "execution.storage": storage, "study": study,
                               "sampler.seed": seed})
    enqueue = load_enqueue_file(enqueue_file, spec.params) if enqueue_file else []
    with _progress(spec.budget.trials, spec.objectives[0].metric) as progress:
        result = run_search(spec, enqueue=enqueue, progress=progress)
    _summary(result)


@click.command()
@click.option("--study", required=True, metavar="NAME", help="The study to join.")
@click.option("--storage", required=True, metavar="URL",
              help="The study's storage, e.g. postgresql://user:pass@host/db.")
@click.option("--workers", type=click.IntRange(min=0), help="Trial processes on this machine.")
@click.option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:0,1.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Adapt the study's spec to this machine, e.g. --set "
                   "execution.artifacts=/mnt/shared (repeatable).")
@click.option("-v", "--verbose", count=True, help="More log output.")
def worker(study: str, storage: str, workers: int | None, device: str | None,
           sets: tuple[str, ...], verbose: int) -> None:
    """Join a running study from another process or machine and run its trials until the
    budget is spent. The study (and its spec) must exist: start it with `automl search
    --storage URL` first."""
    from automl.engine.controller import join

    _quiet_optuna(verbose)
    overrides = {k: v for k, v in {"execution.workers": workers,
                                   "execution.device": device}.items() if v is not None}
    with _progress(0, "") as progress:
        result = join(study, storage, overrides=overrides, progress=progress,
                      sets=parse_set_options(list(sets)))
    _summary(result)


def _quiet_optuna(verbose: int) -> None:
    import optuna

    configure(verbose)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose > 1 else optuna.logging.WARNING)


class _progress:  # noqa: N801 - used as a context manager, like a function
    """A live progress display in a terminal; a no-op callback otherwise."""

    def __init__(self, total: int, metric: str) -> None:
        from automl.cli.progress import SearchProgress

        self.display = SearchProgress(total, metric)

    def __enter__(self) -> Any:
        if not self.display.enabled:
            return None
        self.display.__enter__()
        return lambda state: self.display.update(**state)

    def __exit__(self, *exc: Any) -> None:
        if self.display.enabled:
            self.display.__exit__(*exc)


def _summary(result: Any) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()))
    click.echo(f"study {result.study}: {result.n_trials} trials ({counts}); "
               f"{result.n_new} run now in {result.duration_s:.1f}s on {result.workers} "
               f"worker(s); stopped: {result.stop_reason}")
    if result.best:
        metrics = result.best["metrics"]
        shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in sorted(metrics)
                          if k.startswith(("val_", "test_")) and isinstance(metrics[k], float))
        click.echo(f"best: trial {result.best['number']}: {shown}")
        click.echo(f"params: {result.best['params']}")
    if result.best is None:
        # No trial completed: there is no best/ to point at, and the run did not succeed.
        from automl.errors import AutomlError

        click.echo(f"reports: {result.report_dir}/leaderboard.md, leaderboard.csv (no best/: "
                   "no trial completed)")
        raise AutomlError(_no_best(result))
    click.echo(f"reports: {result.report_dir}/leaderboard.md, leaderboard.csv, best/")


def _no_best(result: Any) -> str:
    """Why a search left no best model, and what to change."""
    pruned = result.counts.get("pruned", 0)
    if pruned and pruned == sum(result.counts.values()):
        # Every trial pruned is no crash (nothing failed: the pruner judged each one a
        # loser), so there is no error to quote. It still exits 1, as when every trial
        # failed: exit 0 promises a best/ (`automl search && automl predict` would go on
        # to a model that does not exist), and the usual cause is a pruner too eager for
        # the spec (warm-up shorter than the curves need), which the user has to change.
        return (f"all {pruned} trials of study {result.study} were pruned, so there is no "
                "best model: the pruner stopped every trial before it finished; give it "
                "more warm-up or start-up trials, or turn it off (pruner: {name: none})")
    also = f" ({pruned} pruned)" if pruned else ""
    return (f"no trial of study {result.study} completed{also}, so there is no best model; "
            f"last error: {result.last_error or 'none recorded'}")


@click.command()
@_space
@_set
def validate(space: str, sets: tuple[str, ...]) -> None:
    """Check a spec and print the resolved space; nothing is trained."""
    from rich.table import Table

    from automl.cli.console import console
    from automl.engine.components import check_spec
    from automl.engine.space import describe

    spec = _load(space, sets, {})
    check_spec(spec)
    out = console()
    from rich.text import Text

    # No markup (see console()): the file name and every value below are the user's.
    out.print(Text.assemble((str(spec.source), "bold"), ": valid"))
    objectives = ", ".join(f"{o.metric} ({o.direction})" for o in spec.objectives)
    b = spec.budget
    out.print(f"study {spec.study} | trainer {', '.join(spec.trainers)} | dataset "
              f"{spec.dataset.name} | objective {objectives}")
    out.print(f"budget: {b.trials} trials, max {b.max_epochs} epochs/trial"
                  + (f", timeout {b.timeout:g}s" if b.timeout else "")
                  + f" | sampler {spec.sampler.name} | pruner {spec.pruner.name}")
    table = Table(title="search space")
    rows = describe(spec.params)
    for name in spec.defaulted_trainers:  # filled in when the data's task is known
        rows.append({"name": f"{name}.*", "kind": "default",
                     "domain": f"{name}'s own default space, tried from its default config",
                     "log": None, "step": None, "condition": f"trainer = {name}"})
    if not rows:
        # An empty table says nothing; this says what the search will do.
        out.print(Text(f"no params: every trial trains {spec.trainer} with the same "
                       f"settings; give params:, or write trainer: [{spec.trainer}] to "
                       "search its default space"))
        return
    for col in rows[0].keys():
        table.add_column(str(col), overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(table)
