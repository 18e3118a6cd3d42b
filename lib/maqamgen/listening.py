"""The listening room: one condition (maqam, tonic, seed) rendered by every generative model of
the book at one length, judged the same way.

The models are the ones the chapters trained and cached in this build; this module never
trains. Each loader rebuilds what its chapter asked the cache for (same configs, same data,
same training seed) inside :func:`cache_only`, which turns any attempt to train into
:class:`NotRun`: a model the chapter has not cached at this profile is reported, not made.

* :data:`KINDS` -- the models: ``pca`` (Chapter 3), ``unet`` (Chapter 4), ``latent``
  (Chapter 6), ``lstm`` (Chapter 7), ``dit`` (Chapter 8).
* :func:`render_pca`, :func:`render_unet`, :func:`render_latent`, :func:`render_lstm`,
  :func:`render_dit` -- one per model: ``seconds`` s of audio for ``(maqam, tonic_hz, seed)``,
  each by its chapter's way of making a long piece (Gaussian conditioning patch after patch;
  outpainted patches; stitched latent windows; a continued note sequence played by the oud
  synthesizer), as a :class:`Rendering`. :func:`render` picks one by kind.
* :func:`judge` -- the book's judges of a rendering: the Chapter 2 estimator with the tonic
  given and free (:func:`maqamgen.estimate.estimate_given_tonic`, :func:`maqamgen.estimate.estimate`),
  per window as Chapter 6 reads pieces (:func:`maqamgen.recipes.ch06_latent_diffusion.window_maqam`),
  and the FCPE track's intonation (:func:`maqamgen.trackers.intonation`).
* :func:`render_all` -- every model on one condition: a :class:`Heard` per model (audio,
  spectrogram, FCPE track, scores; or why it is missing); :func:`table` lays them out.
* :func:`draw_spectrogram`, :func:`draw_pitch` (figure helpers that take an ``ax``),
  :func:`players`, :func:`panel` (an ipywidgets panel that renders only when its button is pressed).

Like :mod:`maqamgen.cli` it sits above the chapter recipes and imports them inside functions.

Used in: book/listening.md
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field

import numpy as np

from maqamgen.errors import ConfigError, MaqamgenError

KINDS = ("pca", "unet", "latent", "lstm", "dit")
"""The generative models of the listening room, in the book's order."""

CHAPTERS = {"pca": "03_pca_gaussian", "unet": "04_unet_ddpm", "latent": "06_latent_diffusion",
            "lstm": "07_lstm_tokens", "dit": "08_dit"}
"""The chapter that trains and caches each model."""

TITLES = {"pca": "PCA Gaussian (Ch. 3)", "unet": "U-Net DDPM (Ch. 4)", "latent": "latent U-Net (Ch. 6)",
          "lstm": "LSTM, 1D tokens (Ch. 7)", "dit": "DiT (Ch. 8)"}
"""Row labels of the table and the figures."""

LONG_METHOD = {"pca": "patches grown by Gaussian conditioning, Griffin-Lim",
               "unet": "outpainted patches (inpaint), Griffin-Lim",
               "latent": "latent windows stitched by continuation, Griffin-Lim",
               "lstm": "prompt continued token by token, oud synthesizer",
               "dit": "latent windows stitched by MultiDiffusion, Griffin-Lim"}
"""How each model makes a long piece (the defaults of ``maqamgen generate``)."""

LATENT_METHOD = "continue"
"""Stitching method of the latent U-Net (``maqamgen generate latent``'s default)."""

DIT_METHOD = "multidiffusion"
"""Stitching method of the DiT (``maqamgen generate dit``'s default)."""

GUIDANCE_SCALE = 2.0
"""Classifier-free guidance weight of the diffusion models (the chapters' default)."""

PLAY_SR = 8000
"""Sample rate of the players, Hz: every model's mel stops at or below 4 kHz, so nothing it made is
lost, and a page of five long players stays small."""


class NotRun(MaqamgenError):
    """A model its chapter has not cached at this profile (the listening room never trains).

    Attributes:
        kind: the model (:data:`KINDS`).
        profile: the profile asked for.
        chapter: the chapter that would train it.
    """

    def __init__(self, kind: str, profile: str, reason: str = "no cached model"):
        self.kind, self.profile, self.chapter = kind, profile, CHAPTERS[kind]
        n = int(self.chapter[:2])
        super().__init__(f"Chapter {n} ({self.chapter}) has not run at profile {profile!r} ({reason})")


@contextlib.contextmanager
def cache_only(kind: str, profile: str):
    """Inside the block, :func:`maqamgen.train.train` (the book's one training loop, which every
    chapter's trainer calls when its cache lacks the model) raises :class:`NotRun` instead of
    training: a chapter's ``train_*`` function then returns its cached model or nothing.

    Used in: lib/maqamgen/listening.py
    """
    from maqamgen import train as trainer

    real = trainer.train

    def refuse(*args, **kwargs):
        raise NotRun(kind, profile)

    trainer.train = refuse
    try:
        yield
    finally:
        trainer.train = real


@dataclass
class Rendering:
    """``seconds`` of one model's audio for one condition.

    Attributes:
        kind: the model (:data:`KINDS`).
        maqam, tonic_hz, seed: the condition asked for.
        y: float32 mono audio, ``round(seconds * sr)`` samples.
        sr: its sample rate, Hz.
        gen_s: wall time of the generation (model and way back to audio), s.
        prompt_s: seconds of real material at the start (the LSTM's prompt; 0 otherwise): the
            judges read only what comes after it.
        tonic_conditioned: whether the model is told the tonic (the U-Net DDPM is not: its
            tonic is whatever it plays).
        method: how the long piece was made.
    """

    kind: str
    maqam: str
    tonic_hz: float
    seed: int
    y: np.ndarray
    sr: int
    gen_s: float
    prompt_s: float = 0.0
    tonic_conditioned: bool = True
    method: str = ""

    @property
    def seconds(self) -> float:
        return len(self.y) / self.sr

    @property
    def judged(self) -> np.ndarray:
        """The generated part of the audio (after the prompt)."""
        return self.y[int(round(self.prompt_s * self.sr)):]


def parse_tonic(maqam: str, text="") -> float:
    """The tonic of the condition, Hz: ``text`` as Hz or a note name (``D3``, ``E-half-flat3``:
    :func:`maqamgen.recipes.ch06_system.parse_tonic`), or, when empty, the maqam's usual oud tonic
    (:attr:`maqamgen.maqam.Maqam.practice_tonic_hz`).

    Used in: book/listening.md
    """
    from maqamgen.recipes import ch06_system as s6

    if text is None or str(text).strip() == "":
        return s6.usual_tonic_hz(maqam)
    return s6.parse_tonic(str(text))


def _fit(y: np.ndarray, seconds: float, sr: int) -> np.ndarray:
    from maqamgen.recipes import ch06_system as s6

    return s6.fit_length(np.asarray(y, dtype=np.float32), int(round(seconds * sr)))


def _check(profile: str, maqam: str, tonic_hz: float, seconds: float):
    from maqamgen import config
    from maqamgen.recipes import ch06_system as s6

    cfg = config.profile(profile)
    if maqam not in cfg.corpus.maqamat:
        raise ConfigError(f"unknown maqam {maqam!r}; the models know: {', '.join(cfg.corpus.maqamat)}")
    return cfg, s6.check_tonic(tonic_hz), s6.check_seconds(seconds)


# ----------------------------------------------------------------------------- loaders (cached only)


@functools.lru_cache(maxsize=None)
def _pca_models(profile: str) -> dict:
    """Chapter 3's class-conditional Gaussians, refitted from the chapter's cached patches with the
    chapter's k* (its results record): the fit is one SVD per maqam, the chapter's own."""
    from maqamgen import config, corpus, gaussian, results
    from maqamgen.recipes import ch03_pca_gaussian as ch03

    rec = results.load(profile, CHAPTERS["pca"])
    if rec is None or "k_star" not in rec.get("metrics", {}):
        raise NotRun("pca", profile, "no results record")
    cfg = config.profile(profile)
    pca_cfg = cfg.pca
    feat = ch03.feature_config(cfg)
    corp = corpus.load(profile, progress=False)
    full = gaussian.fit(ch03.corpus_patches(corp, "train", feat).X)
    k_star = int(rec["metrics"]["k_star"])
    frac = float((np.cumsum(full.Lambda) / full.Lambda.sum())[k_star - 1])
    train_t = ch03.corpus_patches(corp, "train", feat, tonic_ref_hz=pca_cfg.tonic_ref_hz)
    per_maqam = {}
    for m in cfg.corpus.maqamat:
        fm = gaussian.fit(train_t.X[train_t.patch_maqam == m])
        km = min(ch03.n_components(fm.Lambda, frac), fm.k - 1) if fm.k > 1 else 1
        per_maqam[m] = ch03.truncate(fm, km)
    return {"models": per_maqam, "shape": train_t.shape, "feat": feat, "sr": cfg.audio.sr}


@functools.lru_cache(maxsize=None)
def _unet_model(profile: str):
    """Chapter 4's reference model from the cache (:func:`maqamgen.diffusion.run.train_denoiser`)."""
    from maqamgen import config, corpus, features
    from maqamgen.diffusion import run
    from maqamgen.recipes import ch04_unet_ddpm as ch04

    cfg = config.profile(profile)
    data = corpus.load(profile, progress=False)
    train_set = features.load_patches(data, "train", cfg.ddpm.features)
    with cache_only("unet", profile):
        return run.train_denoiser(ch04.base_spec(cfg.ddpm, seed=cfg.seed), train_set, progress=False)


@functools.lru_cache(maxsize=None)
def _latent_parts(profile: str):
    """Chapter 6's autoencoder and training latents (cached by Chapter 6, read by Chapter 8)."""
    from maqamgen import config, corpus
    from maqamgen.recipes import ch06_latent_diffusion as ch06

    cfg = config.profile(profile)
    lcfg = cfg.latent
    data = corpus.load(profile, progress=False)
    with cache_only("latent", profile):
        ae = ch06.train_autoencoder(data, lcfg.features, lcfg.ae_preset, lcfg.ae_train, lcfg.ae_crop_frames,
                                    latent_items=lcfg.latent_items)
    lat_train, _ = ch06.encode_fragments(ae, data, "train", lcfg)
    return ae, lat_train


@functools.lru_cache(maxsize=None)
def _latent_system(profile: str):
    """Chapter 6's latent U-Net with its autoencoder, as a :class:`maqamgen.recipes.ch06_system.LatentSystem`."""
    from maqamgen import config
    from maqamgen.diffusion import run
    from maqamgen.recipes import ch06_latent_diffusion as ch06
    from maqamgen.recipes import ch06_system as s6

    cfg = config.profile(profile)
    ae, lat_train = _latent_parts(profile)
    with cache_only("latent", profile):
        unet = ch06.train_unet(ch06.latent_spec(cfg.latent, seed=cfg.seed), lat_train, progress=False)
    return s6.LatentSystem(ae.model, unet, cfg.latent, cfg.latent.features, ae.normalizer, int(lat_train.sr),
                           tuple(lat_train.maqamat), profile, "griffin_lim", unet.out_dir)


@functools.lru_cache(maxsize=None)
def _dit_system(profile: str):
    """Chapter 8's reference DiT with Chapter 6's autoencoder, as a :class:`maqamgen.recipes.ch08_system.DiTSystem`."""
    from maqamgen import config
    from maqamgen.recipes import ch08_dit as ch08
    from maqamgen.recipes import ch08_system as s8

    cfg = config.profile(profile)
    try:
        ae, lat_train = _latent_parts(profile)
    except NotRun:
        raise NotRun("dit", profile, "no cached autoencoder (Chapter 8 reads Chapter 6's)") from None
    spec = ch08.dit_spec(cfg.dit, cfg.latent, tuple(lat_train.x.shape[1:]), seed=cfg.seed)
    with cache_only("dit", profile):
        dit = ch08.train_dit(spec, lat_train, progress=False)
    return s8.DiTSystem(ae.model, dit, cfg.latent, cfg.latent.features, ae.normalizer, int(lat_train.sr),
                        tuple(lat_train.maqamat), profile, "griffin_lim", dit.out_dir, cfg.dit.torch_threads)


@functools.lru_cache(maxsize=None)
def _lstm_run(profile: str) -> dict:
    """Chapter 7's 1D reference run (seed ``cfg.seed``) and the validation pieces its prompts come from."""
    from maqamgen import config, corpus
    from maqamgen.recipes import ch07_lstm_tokens as lg
    from maqamgen.tokens import TokenSpec

    cfg = config.profile(profile)
    lcfg = cfg.lstm
    corp = corpus.load(profile, progress=False)
    spec = TokenSpec(fmt="1d", rate_hz=lcfg.rate_hz)
    train1, _, _ = lg.maqam_pieces(corp, "train", spec)
    val1, clips_va, _ = lg.maqam_pieces(corp, "validation", spec)
    with cache_only("lstm", profile):
        run = lg.Runs(lcfg, seed=cfg.seed).train(f"1d/seed{cfg.seed}", train1, spec, seed=cfg.seed,
                                                 val_pieces=val1)
    return {"run": run, "spec": spec, "val": val1, "clips": clips_va, "sr": int(corp.config["sr"])}


def load(kind: str, profile: str):
    """The cached model of ``kind`` at ``profile`` (whatever its renderer needs).

    Raises:
        NotRun: its chapter has not cached it at this profile.
        ConfigError: an unknown kind.

    Used in: book/listening.md
    """
    loaders = {"pca": _pca_models, "unet": _unet_model, "latent": _latent_system, "lstm": _lstm_run,
               "dit": _dit_system}
    if kind not in loaders:
        raise ConfigError(f"unknown model {kind!r}; known: {', '.join(KINDS)}")
    return loaders[kind](profile)


# ----------------------------------------------------------------------------- renderers


def render_pca(profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0) -> Rendering:
    """Chapter 3's Gaussian of ``maqam``: patches grown by conditioning on the last
    ``overlap_frames`` (:func:`maqamgen.recipes.ch03_pca_gaussian.chain_patches`), Griffin-Lim,
    then moved from the chapter's reference tonic to ``tonic_hz``
    (:func:`maqamgen.recipes.ch03_pca_gaussian.transpose_to_tonic`, at most half an octave).

    Raises:
        NotRun: Chapter 3 has no results record at this profile.

    Used in: book/listening.md
    """
    from maqamgen import audio
    from maqamgen.recipes import ch03_pca_gaussian as ch03

    cfg, tonic_hz, seconds = _check(profile, maqam, tonic_hz, seconds)
    m = load("pca", profile)
    p, feat, sr = cfg.pca, m["feat"], m["sr"]
    t0 = time.perf_counter()
    s = tonic_hz / p.tonic_ref_hz
    s = s / 2.0 ** np.round(np.log2(s))  # the frequency factor of the transposition: the piece shrinks by it
    n_frames = int(np.ceil(seconds * s * 1.02 * sr / feat.hop_length)) + 2
    fresh = p.patch_frames - p.overlap_frames
    n_chain = max(1, int(np.ceil((n_frames - p.patch_frames) / fresh)) + 1)
    mel, _ = ch03.chain_patches(m["models"][maqam], m["shape"], n_chain, p.overlap_frames, seed=seed)
    y = audio.mel_to_audio(mel[:, :n_frames], sr, n_fft=feat.n_fft, hop_length=feat.hop_length, f_min=feat.f_min,
                           f_max=feat.f_max, n_iter=p.gl_iter, seed=seed)
    y, _ = ch03.transpose_to_tonic(y, sr, p.tonic_ref_hz, tonic_hz)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    y = 0.9 * y / peak if peak > 0 else y
    return Rendering("pca", maqam, tonic_hz, int(seed), _fit(y, seconds, sr), sr, time.perf_counter() - t0,
                     method=LONG_METHOD["pca"])


def render_unet(profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0) -> Rendering:
    """Chapter 4's reference DDPM: ``maqam``'s label, patches each outpainted from the last
    quarter of the previous one (:func:`maqamgen.diffusion.stitch.generate_long`, the chapter's
    DDIM steps), Griffin-Lim. The model takes no tonic: ``tonic_hz`` is only the judges'.

    Raises:
        NotRun: Chapter 4 has not cached its reference model at this profile.

    Used in: book/listening.md
    """
    from maqamgen import features
    from maqamgen.diffusion import stitch

    cfg, tonic_hz, seconds = _check(profile, maqam, tonic_hz, seconds)
    ref = load("unet", profile)
    t0 = time.perf_counter()
    mel, _ = stitch.generate_long(ref, seconds, ref.maqamat.index(maqam), method="inpaint",
                                  steps=min(cfg.ddpm.eval_steps, ref.spec.T), guidance_scale=GUIDANCE_SCALE,
                                  seed=seed)
    y = features.to_audio(mel, ref.normalizer, ref.fcfg, ref.sr, n_iter=cfg.ddpm.gl_iter, seed=seed)
    return Rendering("unet", maqam, tonic_hz, int(seed), _fit(y, seconds, ref.sr), ref.sr,
                     time.perf_counter() - t0, tonic_conditioned=False, method=LONG_METHOD["unet"])


def render_latent(profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0) -> Rendering:
    """Chapter 6's latent U-Net at ``maqam`` and ``tonic_hz``: latent windows stitched by
    :data:`LATENT_METHOD`, decoded, Griffin-Lim (:func:`maqamgen.recipes.ch06_system.generate`,
    what ``maqamgen generate latent`` runs).

    Raises:
        NotRun: Chapter 6 has not cached its autoencoder or latent U-Net at this profile.

    Used in: book/listening.md
    """
    from maqamgen.recipes import ch06_system as s6

    _, tonic_hz, seconds = _check(profile, maqam, tonic_hz, seconds)
    system = load("latent", profile)
    t0 = time.perf_counter()
    y = s6.generate(system, maqam, tonic_hz, seconds, method=LATENT_METHOD, seed=seed,
                    guidance_scale=GUIDANCE_SCALE)
    return Rendering("latent", maqam, tonic_hz, int(seed), y, system.sr, time.perf_counter() - t0,
                     method=LONG_METHOD["latent"])


def render_dit(profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0) -> Rendering:
    """Chapter 8's reference DiT at ``maqam`` and ``tonic_hz``, its ornaments left to it and each
    window told its place in the piece: windows stitched by :data:`DIT_METHOD`, decoded by
    Chapter 6's autoencoder, Griffin-Lim (:func:`maqamgen.recipes.ch08_system.generate`).

    Raises:
        NotRun: Chapter 6 or 8 has not cached its model at this profile.

    Used in: book/listening.md
    """
    from maqamgen.recipes import ch08_system as s8

    _, tonic_hz, seconds = _check(profile, maqam, tonic_hz, seconds)
    system = load("dit", profile)
    t0 = time.perf_counter()
    y = s8.generate(system, maqam, tonic_hz, seconds, None, method=DIT_METHOD, seed=seed,
                    guidance_scale=GUIDANCE_SCALE)
    return Rendering("dit", maqam, tonic_hz, int(seed), y, system.sr, time.perf_counter() - t0,
                     method=LONG_METHOD["dit"])


def render_lstm(profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0) -> Rendering:
    """Chapter 7's 1D LSTM, which has no maqam condition: the opening of a validation clip of
    ``maqam`` (the chapter's ``prompt_seconds``, its first such clip) is continued to ``seconds``
    (:func:`maqamgen.recipes.ch07_lstm_tokens.continue_prompts`, the chapter's temperature) and
    the notes are played on ``tonic_hz`` by the oud synthesizer
    (:func:`maqamgen.recipes.ch07_lstm_tokens.render_at_tonic`). The prompt is heard, not judged.

    Raises:
        NotRun: Chapter 7 has not cached its reference run at this profile.

    Used in: book/listening.md
    """
    from maqamgen import tokens
    from maqamgen.recipes import ch07_lstm_tokens as lg

    cfg, tonic_hz, seconds = _check(profile, maqam, tonic_hz, seconds)
    m = load("lstm", profile)
    spec, sr = m["spec"], m["sr"]
    idx = [i for i, c in enumerate(m["clips"]) if c.maqam == maqam]
    if not idx:
        raise ConfigError(f"no validation clip of {maqam!r} to prompt the LSTM with")
    piece = m["val"][idx[0]]
    prompt_s = min(cfg.lstm.prompt_seconds, seconds / 2)
    t0 = time.perf_counter()
    prompt = lg.prompt_of(piece, spec, prompt_s)
    cont = lg.continue_prompts(m["run"], [prompt], seconds - prompt_s, seed=seed, temperature=cfg.lstm.temperature)[0]
    notes = tokens.crop(spec.decode(piece), 0, prompt_s) + tokens.shift(cont, prompt_s)
    y = lg.render_at_tonic(notes, tonic_hz, sr, seed=seed)
    return Rendering("lstm", maqam, tonic_hz, int(seed), _fit(y, seconds, sr), sr, time.perf_counter() - t0,
                     prompt_s=prompt_s, method=LONG_METHOD["lstm"])


RENDERERS = {"pca": render_pca, "unet": render_unet, "latent": render_latent, "lstm": render_lstm,
             "dit": render_dit}
"""The renderer of each kind."""


def render(kind: str, profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0) -> Rendering:
    """``seconds`` of model ``kind`` for ``(maqam, tonic_hz, seed)`` (:data:`RENDERERS`).

    Used in: book/listening.md
    """
    if kind not in RENDERERS:
        raise ConfigError(f"unknown model {kind!r}; known: {', '.join(KINDS)}")
    return RENDERERS[kind](profile, maqam, tonic_hz, seconds, seed)


# ----------------------------------------------------------------------------- judging


def judge(y: np.ndarray, sr: int, maqam: str, tonic_hz: float, maqamat, tol_cents: float = 15.0,
          window_s: float = 10.0, fcpe=None) -> dict:
    """The book's judges of one piece of audio asked to be ``maqam`` on ``tonic_hz``.

    Returns:
        ``given`` (the maqam the Chapter 2 estimator reads with the tonic given; None without
        pitch), ``p_asked`` (its posterior of the asked maqam), ``free`` and ``free_tonic_hz``
        (read with no tonic given), ``tonic_ok`` (that tonic within 50 cents, octaves ignored:
        :func:`maqamgen.metrics.tonic_correct`), ``window_acc`` and ``n_windows`` (the share of
        ``window_s``-s windows read as the asked maqam with the tonic given:
        :func:`maqamgen.recipes.ch06_latent_diffusion.window_maqam`; NaN when shorter than a
        window), ``in_scale`` and ``median_cents`` (the FCPE track's share of voiced frames
        within ``tol_cents`` of a degree of the maqam at the tonic, and the median distance:
        :func:`maqamgen.trackers.intonation`), ``voiced_s`` (FCPE's voiced seconds).

    Used in: book/listening.md
    """
    from maqamgen import estimate, metrics, trackers
    from maqamgen.recipes import ch06_latent_diffusion as ch06

    out = {"given": None, "p_asked": float("nan"), "free": None, "free_tonic_hz": float("nan"),
           "tonic_ok": False, "window_acc": float("nan"), "n_windows": 0}
    maqamat = list(maqamat)
    track = estimate.pitch_track(y, sr)
    try:
        g = estimate.estimate_given_tonic(None, sr, tonic_hz, maqamat=maqamat, track=track)
        out["given"], out["p_asked"] = g.maqam, float(g.scores.get(maqam, 0.0))
    except estimate.EstimationError:
        pass
    try:
        e = estimate.estimate(None, sr, maqamat=maqamat, track=track)
        out["free"], out["free_tonic_hz"] = e.maqam, float(e.tonic_hz)
        out["tonic_ok"] = bool(metrics.tonic_correct(e.tonic_hz, tonic_hz, 50.0))
    except estimate.EstimationError:
        pass
    if len(y) / sr >= window_s:
        w = ch06.window_maqam(y, sr, maqam, tonic_hz, window_s, maqamat, track=track)
        out["n_windows"] = len(w["given_ok"])
        out["window_acc"] = float(np.mean(w["given_ok"])) if w["given_ok"] else float("nan")
    fcpe = fcpe if fcpe is not None else trackers.fcpe_track(y, sr)
    it = trackers.intonation(fcpe, maqam, tonic_hz, tol_cents)
    out["in_scale"], out["median_cents"] = float(it["within"]), float(it["median_abs_cents"])
    out["voiced_s"] = float(np.sum(fcpe.voiced) * fcpe.hop_s)
    return out


@dataclass
class Heard:
    """One model's row of the listening room.

    Attributes:
        kind, title, chapter: the model, its label, its chapter.
        rendering: the :class:`Rendering` (None when the model is missing).
        scores: :func:`judge` of its generated part (empty when missing).
        F_db: its STFT in dB re its maximum (:func:`maqamgen.audio.stft_db`), shape (bins, frames).
        hop: the STFT hop, samples.
        fcpe: the FCPE pitch track of its generated part (times from the start of that part).
        missing: why there is no rendering (:class:`NotRun`'s message), else None.
    """

    kind: str
    title: str
    chapter: str
    rendering: Rendering | None = None
    scores: dict = field(default_factory=dict)
    F_db: np.ndarray | None = None
    hop: int = 256
    fcpe: object = None
    missing: str | None = None


def render_all(profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0,
               kinds=KINDS) -> dict[str, Heard]:
    """Every model of ``kinds`` on one condition, rendered, analysed and judged.

    Args:
        profile: whose chapters' caches to read.
        maqam, tonic_hz, seed: the condition.
        seconds: length of every rendering, s.
        kinds: which models (:data:`KINDS`).

    Returns:
        ``{kind: Heard}`` in the order of ``kinds``; a model its chapter has not cached at this
        profile has ``missing`` set and no audio.

    Used in: book/listening.md
    """
    from maqamgen import audio, config, trackers

    cfg, tonic_hz, seconds = _check(profile, maqam, tonic_hz, seconds)
    out = {}
    for kind in kinds:
        h = Heard(kind, TITLES[kind], CHAPTERS[kind], hop=cfg.audio.hop_length)
        try:
            r = render(kind, profile, maqam, tonic_hz, seconds, seed)
        except NotRun as e:
            h.missing = str(e)
            out[kind] = h
            continue
        h.rendering = r
        h.F_db = audio.stft_db(r.y, r.sr, n_fft=cfg.audio.n_fft, hop_length=cfg.audio.hop_length, top_db=80.0)
        h.fcpe = trackers.fcpe_track(r.judged, r.sr)
        h.scores = judge(r.judged, r.sr, maqam, tonic_hz, cfg.corpus.maqamat, cfg.latent.tol_cents,
                         cfg.latent.window_seconds, fcpe=h.fcpe)
        out[kind] = h
    return out


def table(heard: dict[str, Heard], digits: int = 2):
    """One row per model: the judges' scores (shares and cents rounded to ``digits``), the length
    and the generation time; a missing model's row says so (its other cells empty).

    Returns:
        A pandas DataFrame indexed by the models' titles (object columns, ready to display).

    Used in: book/listening.md
    """
    import pandas as pd

    def num(v):
        return round(float(v), digits) if v is not None and np.isfinite(v) else ""

    rows = []
    for h in heard.values():
        if h.rendering is None:
            rows.append({"model": h.title, "status": "not run in this build", "note": h.missing})
            continue
        r, s = h.rendering, h.scores
        rows.append({"model": h.title, "status": "rendered", "seconds": round(r.seconds, 1),
                     "judged s": round(r.seconds - r.prompt_s, 1),
                     "tonic asked of the model": "yes" if r.tonic_conditioned else "no (judges only)",
                     "read, tonic given": s.get("given") or "no pitch",
                     "p(asked maqam)": num(s.get("p_asked")),
                     "windows read as asked": num(s.get("window_acc")), "windows": s.get("n_windows"),
                     "read, free": s.get("free") or "no pitch", "tonic found": "yes" if s.get("tonic_ok") else "no",
                     "in scale (FCPE)": num(s.get("in_scale")), "median cents off": num(s.get("median_cents")),
                     "generation s": round(r.gen_s, 1), "note": r.method})
    df = pd.DataFrame(rows).set_index("model").astype(object)
    return df.where(df.notna(), "")


# ----------------------------------------------------------------------------- figures and players


def players(heard: dict[str, Heard], sr: int = PLAY_SR):
    """The renderings as :func:`maqamgen.plots.audio_table` players (resampled to ``sr``), each
    captioned with what the estimator read.

    Used in: book/listening.md
    """
    from fractions import Fraction

    from scipy.signal import resample_poly

    from maqamgen import plots

    items, caps = {}, {}
    for h in heard.values():
        if h.rendering is None:
            continue
        r = h.rendering
        f = Fraction(int(sr), int(r.sr))
        y = resample_poly(r.y, f.numerator, f.denominator).astype(np.float32) if r.sr != sr else r.y
        items[h.title] = (y, int(sr))
        prompt = f", the first {r.prompt_s:g} s a real prompt" if r.prompt_s else ""
        caps[h.title] = f"{r.seconds:.0f} s{prompt}; read as {h.scores.get('given') or 'nothing'} (tonic given)"
    return plots.audio_table(items, caps)


def draw_spectrogram(ax, h: Heard, fmax: float = 2000.0):
    """A model's rendering as a dB spectrogram (:func:`maqamgen.plots.spectrogram`), the prompt
    (if any) marked, titled with the model; a missing model's axes say why.

    Used in: book/listening.md
    """
    from maqamgen import plots

    if h.rendering is None:
        ax.text(0.5, 0.5, f"{h.title}: not run in this build", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    plots.spectrogram(ax, h.F_db, h.rendering.sr, h.hop, fmax=fmax, title=h.title)
    if h.rendering.prompt_s:
        ax.axvline(h.rendering.prompt_s, color="w", ls="--", lw=1)
    return ax


def draw_pitch(ax, h: Heard, tol_cents: float = 15.0):
    """A model's FCPE pitch track in cents above the asked tonic against the asked maqam's degrees
    (:func:`maqamgen.maqam.pitch_classes_cents`, grey lines in every octave the track reaches, a
    band of ``tol_cents`` around each): what the in-scale share counts.

    Used in: book/listening.md
    """
    from maqamgen import maqam as mq

    if h.rendering is None:
        ax.text(0.5, 0.5, f"{h.title}: not run in this build", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    r, tr = h.rendering, h.fcpe
    v = tr.voiced
    cents = np.full(len(tr.f0_hz), np.nan)
    cents[v] = mq.cents(np.asarray(tr.f0_hz)[v], r.tonic_hz)
    lo, hi = (np.nanpercentile(cents, (1, 99)) if v.any() else (-1200.0, 1200.0))
    lo = 1200.0 * np.floor(min(lo, 0.0) / 1200.0) - 100.0
    hi = max(1200.0 * np.ceil(max(hi, 0.0) / 1200.0) + 100.0, lo + 2600.0)
    for o in range(int(lo // 1200), int(hi // 1200) + 1):
        for c in mq.pitch_classes_cents(r.maqam):
            y0 = c + 1200 * o
            ax.axhspan(y0 - tol_cents, y0 + tol_cents, color="0.85", lw=0, zorder=0)
            ax.axhline(y0, color="0.45" if c == 0 else "0.75", lw=0.6, zorder=0)
    ax.plot(np.asarray(tr.times) + r.prompt_s, cents, ".", ms=1.5, color="C3")
    ax.set_ylim(lo, hi)
    ax.set_xlim(0, r.seconds)
    ax.set_ylabel("cents above the tonic")
    ax.set_xlabel("time (s)")
    s = h.scores.get("in_scale", float("nan"))
    ax.set_title(f"{h.title}: {s:.0%} of voiced frames in scale" if np.isfinite(s) else f"{h.title}: no voiced frames",
                 fontsize=9)
    return ax


def panel(profile: str, maqam: str, tonic_hz: float, seconds: float, seed: int = 0, max_seconds: float = 120.0):
    """An ipywidgets panel: maqam, tonic (Hz or a note name), model, seconds, seed, and a
    *generate* button that renders, judges and plays that model's piece with its spectrogram.

    Nothing is rendered until the button is pressed (no ``interact``, no ``Output`` widget):
    executing the page under papermill never waits on it; the rendered book shows the static table.

    Returns:
        An ``ipywidgets.VBox``.

    Used in: book/listening.md
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from maqamgen import config, plots

    cfg = config.profile(profile)
    w_maqam = widgets.Dropdown(options=list(cfg.corpus.maqamat), value=maqam, description="maqam")
    w_tonic = widgets.Text(value=f"{tonic_hz:g}", description="tonic", placeholder="Hz or D3")
    w_model = widgets.Dropdown(options=[(TITLES[k], k) for k in KINDS], value="latent", description="model")
    w_seconds = widgets.FloatSlider(value=float(seconds), min=1.0, max=float(max_seconds), step=1.0,
                                    description="seconds")
    w_seed = widgets.IntText(value=int(seed), description="seed")
    button = widgets.Button(description="generate and play", button_style="primary")
    status = widgets.HTML("<i>choose, then press the button (renders in this kernel)</i>")
    player = widgets.HTML()
    image = widgets.Image(format="png")

    def on_click(_button):
        status.value = "<i>rendering...</i>"
        try:
            t = parse_tonic(w_maqam.value, w_tonic.value)
            h = render_all(profile, w_maqam.value, t, w_seconds.value, int(w_seed.value), kinds=(w_model.value,))
            h = h[w_model.value]
            if h.rendering is None:
                status.value = f"<b>{h.missing}</b>"
                player.value, image.value = "", b""
                return
            s = h.scores
            status.value = (f"{h.title}: read as <b>{s.get('given') or 'no pitch'}</b> with the tonic given "
                            f"(p = {s.get('p_asked', float('nan')):.2f}), free: {s.get('free') or 'no pitch'}; "
                            f"in scale (FCPE) {s.get('in_scale', float('nan')):.2f}; "
                            f"rendered in {h.rendering.gen_s:.1f} s")
            player.value = players({h.kind: h})._repr_html_()
            fig, (a0, a1) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
            draw_spectrogram(a0, h)
            draw_pitch(a1, h, cfg.latent.tol_cents)
            fig.tight_layout()
            image.value = plots.figure_png(fig)
        except MaqamgenError as e:
            status.value = f"<b>{e}</b>"

    button.on_click(on_click)
    return widgets.VBox([widgets.HBox([w_maqam, w_tonic, w_model]), widgets.HBox([w_seconds, w_seed, button]),
                         status, player, image])
