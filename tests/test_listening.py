"""The listening room (maqamgen.listening): never trains (an absent model is a NotRun marker and a
"not run" row), renders exactly ``seconds`` of audio, and judges every rendering the same way.

Tiny synthetic models and monkeypatched loaders stand in for the chapters' caches."""

import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from maqamgen import config, corpus, features, gaussian, listening as L, results, synth  # noqa: E402
from maqamgen import maqam as mq  # noqa: E402
from maqamgen import train as trainer  # noqa: E402
from maqamgen.diffusion import run as runner  # noqa: E402
from maqamgen.errors import ConfigError  # noqa: E402
from maqamgen.notes import Note  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SR = config.profile("smoke").audio.sr


def _scale_audio(maqam: str, tonic_hz: float, seconds: float, sr: int = SR) -> np.ndarray:
    """The maqam's degrees up and down on the oud synthesizer, 0.4 s a note, ``seconds`` long."""
    hz = list(mq.scale_hz(maqam, tonic_hz, practice=True))
    seq = hz + hz[-2::-1]
    notes, t = [], 0.0
    while t < seconds:
        notes.append(Note(onset=t, offset=t + 0.4, freq_hz=float(seq[len(notes) % len(seq)]), velocity=0.8))
        t += 0.4
    return synth.render(notes, sr=sr, seed=0)


def test_cache_only_turns_training_into_not_run_and_restores_the_loop():
    real = trainer.train
    with pytest.raises(L.NotRun, match=r"Chapter 4 \(04_unet_ddpm\) has not run at profile 'book'") as e:
        with L.cache_only("unet", "book"):
            trainer.train(None, None, None, None, None)
    assert (e.value.kind, e.value.profile, e.value.chapter) == ("unet", "book", "04_unet_ddpm")
    assert trainer.train is real


def test_a_chapter_trainer_returns_its_cached_model_and_never_trains_an_absent_one(tmp_path, monkeypatch):
    c = corpus.load("smoke", progress=False)
    tr = features.load_patches(c, "train", config.FeatureConfig())  # read before the cache moves
    monkeypatch.setenv("MAQAMGEN_CACHE", str(tmp_path))  # an empty cache: the chapter has not run
    spec = runner.DenoiserSpec(preset="tiny", T=20, train=config.TrainConfig(steps=2, batch_size=4, device="cpu",
                                                                             progress=False))
    with pytest.raises(L.NotRun):
        with L.cache_only("unet", "smoke"):
            runner.train_denoiser(spec, tr, progress=False)
    assert not list(tmp_path.rglob("checkpoint.pt")), "the guard let a model train"
    trained = runner.train_denoiser(spec, tr, progress=False)  # the chapter runs
    assert not trained.cached
    with L.cache_only("unet", "smoke"):
        again = runner.train_denoiser(spec, tr, progress=False)
    assert again.cached and again.out_dir == trained.out_dir


def test_pca_without_the_chapters_record_is_not_run(monkeypatch):
    L._pca_models.cache_clear()
    monkeypatch.setattr(results, "load", lambda profile, name: None)
    try:
        with pytest.raises(L.NotRun, match=r"Chapter 3 .* has not run at profile 'smoke'"):
            L.load("pca", "smoke")
    finally:
        L._pca_models.cache_clear()


def _fake(kind):
    def render(profile, maqam, tonic_hz, seconds, seed=0):
        y = _scale_audio(maqam, tonic_hz, seconds)
        return L.Rendering(kind, maqam, tonic_hz, seed, L._fit(y, seconds, SR), SR, 0.01, method="fake")
    return render


def _absent(kind):
    def render(profile, maqam, tonic_hz, seconds, seed=0):
        raise L.NotRun(kind, profile)
    return render


def test_render_all_renders_judges_and_marks_absent_models(monkeypatch):
    monkeypatch.setitem(L.RENDERERS, "latent", _fake("latent"))
    monkeypatch.setitem(L.RENDERERS, "dit", _absent("dit"))
    heard = L.render_all("smoke", "hijaz", 146.83, 4.5, seed=0, kinds=("latent", "dit"))
    assert list(heard) == ["latent", "dit"]
    h = heard["latent"]
    assert len(h.rendering.y) == round(4.5 * SR) and h.rendering.sr == SR
    assert h.F_db.shape[1] == 1 + len(h.rendering.y) // h.hop
    s = h.scores
    assert {"given", "p_asked", "free", "tonic_ok", "window_acc", "n_windows", "in_scale", "median_cents"} <= set(s)
    assert s["given"] == "hijaz" and 0.0 < s["p_asked"] <= 1.0
    assert s["in_scale"] > 0.8 and s["median_cents"] < 15.0  # the scale itself is in scale
    assert s["n_windows"] == 1  # one 4-s window of the smoke profile
    missing = heard["dit"]
    assert missing.rendering is None and "Chapter 8 (08_dit) has not run at profile 'smoke'" in missing.missing
    tab = L.table(heard)
    assert tab.loc["DiT (Ch. 8)", "status"] == "not run in this build"
    assert tab.loc["latent U-Net (Ch. 6)", "read, tonic given"] == "hijaz"
    html = L.players(heard)._repr_html_()
    assert html.count("<audio") == 1 and "latent U-Net" in html
    fig, axes = plt.subplots(4, 1)
    for ax, hh, draw in zip(axes, [h, missing, h, missing], [L.draw_spectrogram] * 2 + [L.draw_pitch] * 2):
        draw(ax, hh)
    plt.close(fig)


def test_judges_are_deterministic_and_see_silence_as_no_pitch():
    y = _scale_audio("bayati", 146.83, 3.0)
    a = L.judge(y, SR, "bayati", 146.83, config.profile("smoke").corpus.maqamat, window_s=10.0)
    b = L.judge(y, SR, "bayati", 146.83, config.profile("smoke").corpus.maqamat, window_s=10.0)
    assert a == b or all((a[k] == b[k]) or (a[k] != a[k] and b[k] != b[k]) for k in a)
    assert a["n_windows"] == 0 and np.isnan(a["window_acc"])  # shorter than a window
    quiet = L.judge(np.zeros(2 * SR, np.float32) + 1e-6 * np.random.default_rng(0).standard_normal(2 * SR),
                    SR, "bayati", 146.83, ["bayati", "rast"])
    assert quiet["given"] is None and quiet["free"] is None and not quiet["tonic_ok"]


@pytest.mark.parametrize("tonic_hz", [196.0, 110.0, 146.83])
def test_pca_renders_exactly_seconds_at_any_tonic(monkeypatch, tonic_hz):
    cfg = config.profile("smoke")
    from maqamgen.recipes import ch03_pca_gaussian as ch03

    feat = ch03.feature_config(cfg)
    shape = (cfg.pca.n_mels, cfg.pca.patch_frames)
    X = -50.0 + 5.0 * np.random.default_rng(0).standard_normal((12, shape[0] * shape[1]))
    g = gaussian.fit(X, k=4)
    monkeypatch.setattr(L, "_pca_models", lambda profile: {"models": {m: g for m in cfg.corpus.maqamat},
                                                          "shape": shape, "feat": feat, "sr": SR})
    r = L.render_pca("smoke", "saba", tonic_hz, 2.5, seed=3)
    assert len(r.y) == round(2.5 * SR) and r.y.dtype == np.float32 and np.abs(r.y).max() <= 1.0
    assert float(np.abs(r.y[-SR // 10:]).max()) > 0, "the end was padded, not generated"
    r2 = L.render_pca("smoke", "saba", tonic_hz, 2.5, seed=3)
    np.testing.assert_array_equal(r.y, r2.y)


def test_lstm_renders_prompt_then_continuation_at_the_tonic(monkeypatch):
    import torch

    from maqamgen.nets.lstm import LSTMLM
    from maqamgen.recipes import ch07_lstm_tokens as lg
    from maqamgen.tokens import TokenSpec

    cfg = config.profile("smoke")
    spec = TokenSpec(fmt="1d", rate_hz=cfg.lstm.rate_hz)
    c = corpus.load("smoke", progress=False)
    val, clips, _ = lg.maqam_pieces(c, "validation", spec)
    torch.manual_seed(0)
    run = types.SimpleNamespace(model=LSTMLM(lg.model_config(spec, "tiny")).eval(), spec=spec, loss="ce")
    monkeypatch.setattr(L, "_lstm_run", lambda profile: {"run": run, "spec": spec, "val": val, "clips": clips,
                                                        "sr": SR})
    maqam = clips[0].maqam
    r = L.render_lstm("smoke", maqam, 130.81, 5.0, seed=1)
    assert len(r.y) == 5 * SR and r.prompt_s == cfg.lstm.prompt_seconds
    assert len(r.judged) == round((5.0 - r.prompt_s) * SR)
    r_short = L.render_lstm("smoke", maqam, 130.81, 2.0, seed=1)
    assert r_short.prompt_s == 1.0 and len(r_short.y) == 2 * SR  # the prompt never takes over the piece


def test_bad_conditions_are_config_errors():
    with pytest.raises(ConfigError, match="unknown maqam"):
        L.render("pca", "smoke", "bach", 146.83, 3.0)
    with pytest.raises(ConfigError, match="unknown model"):
        L.render("wavenet", "smoke", "hijaz", 146.83, 3.0)
    with pytest.raises(ConfigError, match="seconds"):
        L.render_all("smoke", "hijaz", 146.83, -1.0)
    with pytest.raises(ConfigError, match="tonic"):
        L.render_all("smoke", "hijaz", 5.0, 3.0)


def test_parse_tonic():
    assert L.parse_tonic("hijaz", "") == pytest.approx(mq.get_maqam("hijaz").practice_tonic_hz)
    assert L.parse_tonic("rast", "D3") == pytest.approx(146.83, abs=0.01)
    assert L.parse_tonic("rast", "200") == 200.0
    with pytest.raises(ConfigError):
        L.parse_tonic("rast", "not a note")


def test_panel_renders_nothing_until_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(L, "render_all", lambda *a, **k: calls.append(a) or {})
    box = L.panel("smoke", "hijaz", 146.83, 8.0, 0)
    assert calls == [] and len(box.children) == 5


def test_dit_without_chapter_6s_autoencoder_is_chapter_8_not_run(monkeypatch):
    def absent(profile):
        raise L.NotRun("latent", profile)

    monkeypatch.setattr(L, "_latent_parts", absent)
    with pytest.raises(L.NotRun, match=r"Chapter 8 \(08_dit\) has not run at profile 'smoke'") as e:
        L.load("dit", "smoke")
    assert e.value.kind == "dit"
    with pytest.raises(L.NotRun, match="Chapter 6"):
        L.load("latent", "smoke")


@pytest.mark.parametrize("kind", L.KINDS)
def test_each_smoke_model_renders_exactly_seconds_or_is_not_run(kind):
    """The real loaders on this checkout's smoke caches: a model its chapter cached renders exactly
    ``seconds`` (the same audio for the same seed); one it did not is a NotRun, never trained."""
    try:
        r = L.render(kind, "smoke", "bayati", 146.83, 2.5, seed=4)
    except L.NotRun as e:
        assert e.kind == kind and e.profile == "smoke"
        return
    assert r.kind == kind and len(r.y) == round(2.5 * r.sr) and np.isfinite(r.y).all()
    np.testing.assert_array_equal(r.y, L.render(kind, "smoke", "bayati", 146.83, 2.5, seed=4).y)
