"""Where a study lives: SQLite in the run directory by default; any SQLAlchemy URL (PostgreSQL, MySQL) so that
several processes or SLURM jobs join one study; or Optuna's JournalStorage on a shared file system
(``journal:///shared/path/study.log``).

RDB storages get Optuna's heartbeat: a trial whose process died (kill -9, a preempted SLURM job) stops beating,
is failed after ``grace_s`` by the next worker or resumed run, and ``RetryHeartbeatStaleTrialCallback``
re-enqueues its architecture, so a killed search loses at most the trial in flight. JournalStorage has no
heartbeat in Optuna: a dead worker's trial stays RUNNING there (it does not count toward the budget).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

_JOURNAL = "journal://"


class StorageUnreachableError(RuntimeError):
    """The study storage cannot be opened; raised before any candidate is trained."""


def default_url(run_dir: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(run_dir).resolve() / 'study.db'}"


def open_storage(url: str | None, run_dir: str | os.PathLike[str], *, heartbeat_s: int = 30, grace_s: int = 60,
                 max_retry: int = 2) -> BaseStorage:
    """The storage at ``url`` (``None``: ``<run_dir>/study.db``), connected now so that a wrong host, a
    missing driver or an unwritable path fails here."""
    url = url or default_url(run_dir)
    if url.startswith(_JOURNAL):
        path = Path(url[len(_JOURNAL):])
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise StorageUnreachableError(f"cannot open journal storage {url}: {path.parent} is not a writable "
                                          f"directory")
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        parent = Path(url[len("sqlite:///"):]).parent
        if not parent.is_dir():
            raise StorageUnreachableError(f"cannot open study storage {url}: directory {parent} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # several workers on one SQLite file wait for its lock instead of failing at once
            engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
            storage = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_s,
                                 grace_period=grace_s,
                                 heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry))
            storage.get_all_studies()  # a lazy engine connects here
    except Exception as exc:  # noqa: BLE001  (driver, network and auth errors all mean: cannot search)
        raise StorageUnreachableError(f"cannot open study storage {url}: {type(exc).__name__}: {exc}") from exc
    return storage
