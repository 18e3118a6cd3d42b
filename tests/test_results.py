import numpy as np

from maqamgen import results


def test_save_load_roundtrip_cleans_numpy_and_nan(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "repo_root", lambda: tmp_path)
    p = results.save("smoke", "pca", {"fd": np.float32(1.5), "acc": float("nan"), "k": np.int64(3)},
                     chapter="03")
    assert p.parent == tmp_path / "_build" / "results" / "smoke"
    r = results.load("smoke", "pca")
    assert r["metrics"] == {"fd": 1.5, "acc": None, "k": 3} and r["chapter"] == "03"
    assert results.load("smoke", "missing") is None
    assert list(results.load_all("smoke")) == ["pca"]
    assert not list(p.parent.glob(".*tmp*"))


def _core(**over):
    core = {k: 1.0 for k in results.CORE_METRICS}
    core.update(over)
    return core


def test_model_records_follow_the_schema_and_make_one_table(tmp_path, monkeypatch):
    import pytest

    from maqamgen.errors import ConfigError

    monkeypatch.setattr(results, "repo_root", lambda: tmp_path)
    results.save_model("smoke", "a", _core(fd=results.interval(2.0, 1.5, 2.5, n=16)), {"x": 1}, chapter="04")
    results.save_model("smoke", "b", _core(fd=results.not_applicable("no spectrogram")), chapter="07")
    results.save("smoke", "chapter_only", {"y": 2})
    t = results.table("smoke")
    assert list(t.index) == ["a", "b"]
    assert t.loc["a", "fd"] == 2.0 and t.loc["a", "fd_lo"] == 1.5 and np.isnan(t.loc["b", "fd"])
    assert list(t.columns[:2]) == ["chapter", "fd"]
    with pytest.raises(ConfigError, match="missing"):
        results.save_model("smoke", "c", {"fd": 1.0})
    with pytest.raises(ConfigError, match="not in the schema"):
        results.save_model("smoke", "c", _core(bogus=1.0))
    with pytest.raises(ConfigError, match="must be a number"):
        results.save_model("smoke", "c", _core(fd="high"))
    with pytest.raises(ConfigError):
        results.not_applicable("")
