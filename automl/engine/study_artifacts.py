"""The study's files in Optuna's artifact store, where optuna-dashboard shows them.

Each finished trial gets its learning curve (``learning_curve.json``: one record per
epoch, every metric the trainer reported) as a trial artifact; at the end of a run the
best trial's model bundle (the files of ``best/``) becomes a study artifact. The store is
a :class:`optuna.artifacts.FileSystemArtifactStore` in ``<store folder>/artifacts``
(:func:`automl.reports.artifacts.store_root`: the report folder, or the shared folder of
``execution.artifacts``). An upload that fails is logged: it never fails a trial.
"""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts._protocol import ArtifactStore

# Optuna's own record of an artifact (what upload_artifact stores, get_all_artifact_meta
# reads): private names, so tests/engine/test_dashboard_study.py reads each curve back.
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX, ArtifactMeta

from automl.log import get_logger

__all__ = ["ArtifactUploads", "artifact_dir", "open_artifact_store"]

logger = get_logger(__name__)

CURVE_FILE = "learning_curve.json"


def artifact_dir(store_dir: Path) -> Path:
    """Where the artifact store of a study whose store folder is ``store_dir`` lives."""
    return store_dir / "artifacts"


def open_artifact_store(store_dir: Path) -> optuna.artifacts.FileSystemArtifactStore:
    """The study's artifact store (its folder made on first use)."""
    folder = artifact_dir(store_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.artifacts.FileSystemArtifactStore(str(folder))


class ArtifactUploads:
    """Uploads a search's learning curves and best model to the study's artifact store."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._store: optuna.artifacts.FileSystemArtifactStore | None = None
        self._off = False
        # Learning curves are written to disk by one background thread: creating a file
        # costs ~1 ms here, as much as automl's whole per-trial overhead (bench/vs_plain.py)
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def close(self) -> None:
        """Wait until every learning curve is on disk (before the study is saved)."""
        for future in self._pending:
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - the curve is a view: say it, go on
                if not self._off:
                    self._off = True
                    logger.warning("could not save a learning curve to %s (%s: %s); no more "
                                   "artifacts are saved in this run",
                                   artifact_dir(self.store_dir), type(exc).__name__, exc)
        self._pending = []
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def _upload(self, target: optuna.Trial | optuna.Study, path: Path, mimetype: str) -> None:
        if self._off:
            return
        try:
            if self._store is None:
                self._store = open_artifact_store(self.store_dir)
            optuna.artifacts.upload_artifact(artifact_store=self._store, file_path=str(path),
                                             study_or_trial=target, mimetype=mimetype)
        except Exception as exc:  # noqa: BLE001 - artifacts are a view; trials matter more
            self._off = True  # a full disk or a read-only folder: say it once
            logger.warning("could not save %s to the artifact store at %s (%s: %s); no more "
                           "artifacts are saved in this run", path.name,
                           artifact_dir(self.store_dir), type(exc).__name__, exc)

    def learning_curve(self, trial: optuna.Trial, history: list[Mapping[str, Any]]) -> None:
        """Save a running trial's per-epoch metrics (call before the trial is told: Optuna
        attaches artifacts to trials that are not finished yet).

        What :func:`optuna.artifacts.upload_artifact` does, in two halves: the artifact's
        record (the trial attribute optuna-dashboard lists) is set now, the file is written
        by a background thread; :meth:`close` waits for it."""
        if not history or self._off:
            return
        body = json.dumps({"trial": trial.number, "epochs": list(history)},
                          default=float).encode()
        try:
            if self._store is None:
                self._store = open_artifact_store(self.store_dir)
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="automl-artifacts")
            meta = ArtifactMeta(artifact_id=str(uuid.uuid4()), filename=CURVE_FILE,
                                mimetype="application/json", encoding=None)
            self._pending.append(self._writer.submit(_write, self._store, meta.artifact_id,
                                                     body))
            trial.storage.set_trial_system_attr(trial._trial_id,
                                                ARTIFACTS_ATTR_PREFIX + meta.artifact_id,
                                                json.dumps(asdict(meta)))
        except Exception as exc:  # noqa: BLE001 - artifacts are a view; trials matter more
            self._off = True
            logger.warning("could not save %s to the artifact store at %s (%s: %s); no more "
                           "artifacts are saved in this run", CURVE_FILE,
                           artifact_dir(self.store_dir), type(exc).__name__, exc)
        self._pending = [f for f in self._pending if not f.done() or f.exception()]

    def best_model(self, study: optuna.Study, number: int, best_dir: Path) -> None:
        """Save the files of the best trial's model bundle (trial ``number``) as study
        artifacts named ``best_trial_<number>_<file>``; a run that ends with the same best
        trial as the last one saves nothing again. Processes sharing a study (PostgreSQL
        workers) share its report folder: one may replace ``best/`` while another reads
        it, so a file gone meanwhile is skipped (the replacing process saves its own)."""
        if not best_dir.is_dir() or self._off:
            return
        try:
            have = {m.filename for m in optuna.artifacts.get_all_artifact_meta(study)}
        except Exception:  # noqa: BLE001 - at worst a file is saved twice
            have = set()
        with tempfile.TemporaryDirectory(prefix="automl-best-") as tmp:
            for path in sorted(p for p in best_dir.iterdir() if p.is_file()):
                name = f"best_trial_{number}_{path.name}"
                if name in have:
                    continue
                copy = Path(tmp) / name
                try:
                    copy.write_bytes(path.read_bytes())
                except FileNotFoundError:
                    logger.debug("best/%s was replaced while it was saved; skipped", path.name)
                    continue
                self._upload(study, copy, "application/octet-stream")


def _write(store: ArtifactStore, artifact_id: str, body: bytes) -> None:
    store.write(artifact_id, io.BytesIO(body))
