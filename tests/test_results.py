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
