"""Every model record the smoke notebooks wrote follows the one results schema.

The records are written by the chapters (``_build/results/smoke``, after ``maqamgen book
--profile smoke``); without them there is nothing to check, and the tests say so. ``make test``
runs the unit tests before the notebooks, so on a fresh clone these skip: run
``pytest tests/test_schema_records.py`` again after ``make notebooks`` to check the records.
"""

import pytest

from maqamgen import results
from maqamgen.runtime import repo_root

PROFILE = "smoke"


def _model_records() -> dict:
    folder = repo_root() / "_build" / "results" / PROFILE
    if not folder.is_dir():
        return {}
    return {name: rec for name, rec in results.load_all(PROFILE).items() if rec.get("kind") == "model"}


RECORDS = _model_records()
needs_records = pytest.mark.skipif(
    not RECORDS, reason=f"no model records in _build/results/{PROFILE}: run the smoke notebooks "
                        f"first (maqamgen book --profile {PROFILE} --no-html)")


@needs_records
@pytest.mark.parametrize("name", sorted(RECORDS))
def test_model_record_follows_the_schema(name):
    rec = RECORDS[name]
    results.validate(rec)
    assert rec.get("chapter"), f"{name}: the record does not name its chapter"
    assert isinstance(rec["metrics"].get("extras", {}), dict)


@needs_records
def test_table_has_one_row_per_model_with_the_same_columns():
    table = results.table(PROFILE)
    assert sorted(table.index) == sorted(RECORDS)
    for key in results.CORE_METRICS:
        assert key in table.columns
    assert table.columns.is_unique and "chapter" in table.columns


@pytest.mark.skipif(not __import__("os").environ.get("MAQAMGEN_REQUIRE_RECORDS"),
                    reason="set MAQAMGEN_REQUIRE_RECORDS=1 after the smoke notebooks (make nbval does)")
def test_every_generative_chapter_recorded_its_models():
    chapters = {rec.get("chapter") for rec in RECORDS.values()}
    for ch in ("03_pca_gaussian", "04_unet_ddpm", "05_scaling_hallucination", "06_latent_diffusion",
               "07_lstm_tokens", "08_dit"):
        assert ch in chapters, f"no model record from {ch} in _build/results/{PROFILE}"
