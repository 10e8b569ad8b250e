"""Whether a run directory may be resumed: the same settings and the same data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keras_posemb.errors import RunError, Setting
from keras_posemb.runs.run import Run

if TYPE_CHECKING:
    from keras_posemb.settings import TrainConfig


def _differences(recorded: dict, wanted: dict) -> list[str]:
    keys = sorted(set(recorded) | set(wanted))
    return [key for key in keys if recorded.get(key) != wanted.get(key)]


def _shown(value):
    return "the default" if value is None else repr(value)


def _refuse_other_run(run, names, recorded, wanted):
    changes = ", ".join(
        f"{name}: {_shown(recorded.get(name))} then, {_shown(wanted.get(name))} now"
        for name in names
    )
    return RunError(
        f"{run.directory} holds a run made with other settings ({changes}); a run resumes "
        "only with the settings it started with. Start afresh there with ",
        Setting("overwrite", True),
        " (its files are removed), or use another ",
        Setting("output_dir"),
        ".",
    )


def prepare_run(run: Run, config: TrainConfig) -> dict | None:
    """Readies `run` (locked) for `config`: same settings to resume, else afresh.

    Returns:
        The metrics of a finished run with the same settings (nothing is
        trained or removed then, unless `overwrite`), else `None`.

    Raises:
        RunError: when the directory holds a run with other settings (and
            `overwrite` is off), naming every setting that differs.
    """
    recorded = run.read_settings()
    wanted = config.settings_to_match()
    found = run.kind()
    if recorded is not None and found != config.KIND and not config.overwrite:
        what = f"{found.a_run} ({found.trainer})" if found else "a run of another kind"
        raise RunError(
            f"{run.directory} holds {what}, not {config.KIND.a_run}; "
            "its files are left as they are. Use another ", Setting("output_dir"), ".",
        )  # fmt: skip
    if recorded is not None and not config.overwrite:
        changed = _differences(recorded["settings"], wanted)
        if changed:
            raise _refuse_other_run(run, changed, recorded["settings"], wanted)
        if run.is_complete():
            return run.read_metrics()
    elif run.has_backup() and not config.overwrite:
        raise RunError(
            f"{run.directory} holds checkpoints without recorded settings, so the run cannot be "
            "resumed safely. Start afresh with ", Setting("overwrite", True), " or use another ",
            Setting("output_dir"), ".",
        )  # fmt: skip
    if not run.has_backup() or config.overwrite:
        run.clear()  # Nothing to resume: the last run's logs would mix with this one's.
    return None


def record_settings(run: Run, config: TrainConfig, fingerprint: str) -> None:
    recorded = run.read_settings()
    if recorded is not None and recorded.get("data_fingerprint") not in (None, fingerprint):
        raise RunError(
            f"{run.directory} holds a run trained on other data (the data of ",
            Setting(config.DATA_SETTING, getattr(config, config.DATA_SETTING)),
            " changed since it started); a run resumes "
            "only on the data it started with. Start afresh with ",
            Setting("overwrite", True),
            ", or use another ",
            Setting("output_dir"),
            ".",
        )
    run.write_settings(config.KIND, config.settings_to_match(), fingerprint)
