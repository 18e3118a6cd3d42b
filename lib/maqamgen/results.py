"""The book's results store and its one schema: every generative model records the same core
metrics under the same keys, so the results chapter is a table, not a translation.

Results are JSON files ``_build/results/<profile>/<name>.json`` (written atomically), so a
chapter run alone still finds what earlier chapters measured at the same profile. Two kinds:

* a **model record** (:func:`save_model`): one generative model, with every key of
  :data:`CORE_METRICS` (a number, a number with its interval from :func:`interval`, or
  :func:`not_applicable` with the reason) and chapter-specific ``extras`` kept apart;
  :func:`table` lays them side by side, one row per model;
* a **chapter record** (:func:`save`): a chapter's other headline numbers.

A number is only ever written by the code that computed it in that run.

Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
book/part1/05_scaling_hallucination.md, book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from maqamgen import runtime
from maqamgen.errors import ConfigError
from maqamgen.runtime import repo_root

CORE_METRICS: dict[str, str] = {
    "fd": "Frechet distance to held-out real material in the judge's embedding "
          "(metrics.frechet_distance; lower is better)",
    "maqam_acc_estimator": "share of generations the Chapter 2 estimator reads as the asked maqam "
                           "(metrics.maqam_accuracy; 0-1)",
    "maqam_acc_classifier": "share the in-domain classifier reads as the asked maqam (0-1)",
    "pcd_js_audio": "JS divergence, bits, of the mean pitch-class distribution of generated audio "
                    "against real audio (metrics.pcd_divergence)",
    "frame_dist": "mean distance of a generated frame to its nearest real training frame "
                  "(metrics.nearest_frame_distance; normalised log-mel units)",
    "seam_jump_ratio": "mean frame-to-frame spectral jump across window seams over the mean jump "
                       "away from them (metrics.seam_jump_ratio; about 1 on real audio)",
    "hallucination_index": "middle-part hallucination of long generations: excess novelty of the "
                           "middle third plus excess looping (metrics.hallucination_index; 0 = none)",
    "params": "trainable parameters (count)",
    "train_s": "training wall time, s",
    "gen_s_per_audio_s": "seconds of compute to generate the model's own output (spectrogram or "
                         "tokens; inversion to audio not counted) per second of audio it stands for",
}
"""The core metrics every generative model records, with what each means (one definition each,
in :mod:`maqamgen.metrics`)."""


def interval(value, lo, hi, n: int | None = None) -> dict:
    """A measured value with its (95 %) interval ``[lo, hi]`` and, optionally, the sample size."""
    out = {"value": value, "lo": lo, "hi": hi}
    if n is not None:
        out["n"] = int(n)
    return out


def not_applicable(reason: str) -> dict:
    """Marks a core metric that cannot apply to a model, with the reason (e.g. no spectrogram)."""
    if not reason:
        raise ConfigError("not_applicable needs a reason")
    return {"na": str(reason)}


def _check_core(name: str, core: dict) -> None:
    missing = [k for k in CORE_METRICS if k not in core]
    extra = [k for k in core if k not in CORE_METRICS]
    if missing or extra:
        raise ConfigError(f"model record {name!r}: core metrics must be exactly the schema's keys "
                          f"(missing: {missing or 'none'}; not in the schema: {extra or 'none'})")
    for k, v in core.items():
        ok = (v is None or isinstance(v, (int, float)) or hasattr(v, "item")
              or (isinstance(v, dict) and (set(v) == {"na"} or {"value", "lo", "hi"} <= set(v) <= {"value", "lo", "hi", "n"})))
        if not ok:
            raise ConfigError(f"model record {name!r}: {k} must be a number, results.interval(...) "
                              f"or results.not_applicable(reason), got {v!r}")


def results_dir(profile: str) -> Path:
    """``_build/results/<profile>`` under the book root (created)."""
    d = repo_root() / "_build" / "results" / profile
    d.mkdir(parents=True, exist_ok=True)
    return d


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save(profile: str, name: str, metrics: dict, **context) -> Path:
    """Record ``metrics`` (a flat or nested dict of numbers/strings) for model ``name``.

    ``context`` (e.g. ``chapter="03_pca_gaussian"``, ``seed=0``) is stored beside them with
    the time of the run.
    """
    path = results_dir(profile) / f"{name}.json"
    blob = {"name": name, "profile": profile, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **_clean(context), "metrics": _clean(metrics)}
    runtime.atomic_write(path, json.dumps(blob, indent=1, sort_keys=True))
    return path


def load(profile: str, name: str) -> dict | None:
    """The record saved for ``name`` at ``profile``, or None if that chapter has not run."""
    path = results_dir(profile) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def load_all(profile: str) -> dict[str, dict]:
    """Every record at ``profile``, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(results_dir(profile).glob("*.json"))}


def save_model(profile: str, name: str, core: dict, extras: dict | None = None, **context) -> Path:
    """Record one generative model on the common schema.

    Args:
        profile: the profile of the run.
        name: the model's name in the table (e.g. ``unet_ddpm``, ``lstm_1d``).
        core: every key of :data:`CORE_METRICS` and no other: a number, :func:`interval`, or
            :func:`not_applicable`.
        extras: chapter-specific metrics, kept apart from the core.
        **context: e.g. ``chapter="04_unet_ddpm"``, ``seed=0``.

    Raises:
        ConfigError: the core does not follow the schema.
    """
    _check_core(name, core)
    return save(profile, name, {"core": core, "extras": extras or {}}, kind="model", **context)


def validate(record: dict) -> None:
    """Raise :class:`ConfigError` unless ``record`` (as loaded) is a model record on the schema."""
    name = record.get("name", "?")
    if record.get("kind") != "model" or not isinstance(record.get("metrics"), dict):
        raise ConfigError(f"record {name!r} is not a model record")
    _check_core(name, record["metrics"].get("core", {}))


def core_value(v):
    """The number of a core metric (an interval's value; None where it does not apply)."""
    if isinstance(v, dict):
        return v.get("value")
    return v


def table(profile: str):
    """Every model recorded at ``profile``, one row each, the core metrics as columns.

    Returns:
        A pandas DataFrame indexed by model name, with ``chapter`` and every key of
        :data:`CORE_METRICS` (numbers; NaN where a metric does not apply); an interval's bounds
        are in ``<key>_lo`` / ``<key>_hi``.
    """
    import pandas as pd

    rows = []
    for name, rec in load_all(profile).items():
        if rec.get("kind") != "model":
            continue
        validate(rec)
        row = {"model": name, "chapter": rec.get("chapter")}
        for k in CORE_METRICS:
            v = rec["metrics"]["core"][k]
            row[k] = core_value(v)
            if isinstance(v, dict) and "lo" in v:
                row[f"{k}_lo"], row[f"{k}_hi"] = v["lo"], v["hi"]
        rows.append(row)
    cols = ["model", "chapter"] + [c for k in CORE_METRICS for c in (k, f"{k}_lo", f"{k}_hi")]
    df = pd.DataFrame(rows)
    return df.reindex(columns=[c for c in cols if c in df.columns or c in ("model", "chapter", *CORE_METRICS)]).set_index("model")

