"""Dataclass configs and the three profiles: the one config path of the book.

A chapter's ``parameters`` cell holds scalars only (``profile = "book"``, ``maqam = "hijaz"``,
``seed = 0``); everything else comes from ``maqamgen.config.profile(name)``.

* ``smoke`` -- seconds per chapter: CI, nbval, a quick look that everything runs.
* ``book``  -- the default: the whole book on a 2-core CPU, with results that mean something.
* ``full``  -- the report's scale, meant for a GPU.

Used in: book/intro.md, book/part1/01_stft_filtering.md, book/part1/02_maqam_estimation.md,
book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md,
book/part2/07_lstm_tokens.md (every chapter: ``cfg = maqamgen.config.profile(profile)``)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from maqamgen.errors import ConfigError

BOOK_THREADS = 2
"""Torch (and BLAS) threads of the ``book`` profile's torch chapters (4 to 8): both cores of the
2-core machine the book is built on, which has the book to itself. Measured on it
(``benchmarks/bench_threads.py``, 2026-12-06), two threads against one: training steps of
Chapter 4's U-Net 1.77x, Chapter 6's latent U-Net 1.83x and Chapter 8's DiT 1.53x as fast;
Griffin-Lim 2.0x, FCPE 2.2x. One thread wins only when other jobs share the cores (the
``smoke`` profile keeps one: CI's checks give the same numbers on any machine). A fixed count,
not torch's default, so that a ``book`` run computes the same floats on any machine."""

SMOKE_THREADS = 1
"""Torch threads of the ``smoke`` profile (see :data:`BOOK_THREADS`)."""


@dataclass(frozen=True)
class AudioConfig:
    """Analysis settings shared by every chapter.

    Attributes:
        sr: sample rate in Hz.
        n_fft: STFT window length in samples (bin width ``sr / n_fft`` Hz).
        hop_length: STFT hop in samples (frame period ``hop_length / sr`` s).
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 256

    @property
    def bin_hz(self) -> float:
        """Width of one STFT bin in Hz."""
        return self.sr / self.n_fft

    @property
    def frame_s(self) -> float:
        """Time between STFT frames in seconds."""
        return self.hop_length / self.sr


@dataclass(frozen=True)
class STFTChapterConfig:
    """Chapter 1 (STFT filtering): what is synthesized and which grids are measured.

    The threshold and smoothing width of the figures are the chapter's scalar parameters
    (``alpha_db``, ``sigma``).

    Attributes:
        phrase_seconds: length of the synthesized oud phrase shown in the figures, s.
        alpha_grid_db: thresholds measured in the alpha sweep, dB.
        sigma_grid: smoothing widths measured in the sigma sweep (same in time and frequency).
        n_phrases: phrases (different seeds and maqamat) averaged in the measurements.
        measure_seconds: length of each measured phrase, s.
    """

    phrase_seconds: float = 8.0
    alpha_grid_db: tuple[float, ...] = (-80.0, -70.0, -60.0, -50.0, -40.0, -30.0, -20.0, -10.0)
    sigma_grid: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    n_phrases: int = 8
    measure_seconds: float = 6.0


CORE_MAQAMAT = ("rast", "bayati", "sikah", "hijaz", "saba", "nahawand", "kurd", "ajam")
"""The eight maqamat of the synthetic corpus (names as in :data:`maqamgen.maqam.MAQAMAT`)."""


@dataclass(frozen=True)
class CorpusConfig:
    """The synthetic taqsim corpus (:mod:`maqamgen.corpus`); its hash is the cache key.

    Attributes:
        n_per_maqam: clips per maqam (>= 1; >= 3 gives every split at least one clip).
        seconds_min: shortest phrase, s (the audio adds the last note's release).
        seconds_max: longest phrase, s (>= seconds_min).
        maqamat: maqam names, each known to :func:`maqamgen.maqam.get_maqam`.
        sr: sample rate of the rendered audio, Hz.
        snr_db_min: lowest recording-noise SNR, dB; ``None`` (with snr_db_max) = clean audio.
        snr_db_max: highest recording-noise SNR, dB.
        splits: (train, validation, test) fractions, summing to 1; stratified by maqam.
        seed: corpus seed; every clip's seed derives from it, its maqam and its index.
        jitter_cents: standard deviation of the per-note intonation jitter, cents.
    """

    n_per_maqam: int = 16
    seconds_min: float = 13.0
    seconds_max: float = 17.0
    maqamat: tuple[str, ...] = CORE_MAQAMAT
    sr: int = 22050
    snr_db_min: float | None = None
    snr_db_max: float | None = None
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    jitter_cents: float = 4.0

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable) of every setting."""
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short content hash of the settings (the corpus cache folder's name)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the one training loop, :func:`maqamgen.train.train`, used by every model.

    Attributes:
        steps: total optimizer steps (the LR schedule spans them).
        batch_size: samples per step *per process* (under torchrun the global batch is
            ``batch_size * world_size``).
        lr: peak learning rate.
        optimizer: ``adam``, ``adamw`` or ``sgd`` (with ``momentum``).
        weight_decay: L2 (adam, sgd) or decoupled (adamw) weight decay.
        betas: Adam's (beta1, beta2).
        momentum: SGD momentum.
        lr_schedule: ``cosine`` (to ``min_lr_ratio * lr`` at ``steps``) or ``constant``.
        warmup_steps: linear warm-up from 0 to ``lr``.
        min_lr_ratio: final LR of the cosine schedule as a fraction of ``lr``.
        grad_clip: clip the global gradient norm to this (None or 0: no clipping).
        ema_decay: decay of the exponential moving average of the weights (None: no EMA).
        ckpt_every: write a checkpoint every this many steps (and at the end).
        log_every: append the loss curve to ``losses.csv`` every this many steps.
        seed: seeds torch, numpy, python ``random`` and the data order.
        shuffle: shuffle the data every epoch (seeded by ``seed`` and the epoch).
        drop_last: drop the last incomplete batch of an epoch.
        num_workers: DataLoader worker processes (0: load in the main process; resume is
            bit-exact then, and with workers whenever the dataset itself is deterministic).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        progress: show a tqdm bar (also off when ``TQDM_DISABLE=1`` or stderr is not a TTY).
    """

    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-4
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float | None = 0.999
    ckpt_every: int = 500
    log_every: int = 10
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = True
    num_workers: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self):
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; known: adam, adamw, sgd")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ConfigError(f"unknown lr_schedule {self.lr_schedule!r}; known: cosine, constant")
        for name in ("steps", "batch_size", "ckpt_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"TrainConfig.ema_decay must be in (0, 1) or None, got {self.ema_decay}")

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable) of every setting."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class EstimationChapterConfig:
    """Chapter 2 (maqam estimation): what the estimators are judged on.

    Attributes:
        eval_splits: corpus splits judged (the estimators are not trained on the corpus; the
            weights of the pitch-based one were set on separate synth phrases).
        crop_seconds: clip lengths of the accuracy-against-length study, s.
        n_listen: clips offered as audio players.
        listen_seconds: length of each player, s.
    """

    eval_splits: tuple[str, ...] = ("validation", "test")
    crop_seconds: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 12.0)
    n_listen: int = 3
    listen_seconds: float = 8.0


@dataclass(frozen=True)
class PCAChapterConfig:
    """Chapter 3 (PCA Gaussian): features, fits and measurements.

    Attributes:
        n_mels: mel bands of the patches (absolute dB, :func:`maqamgen.audio.mel_spectrogram_db`).
        f_min, f_max: mel band edges, Hz (4 kHz keeps the bands where the oud's pitch lives).
        hop_length: hop of the mel spectrogram, samples (``n_fft`` comes from ``audio``).
        patch_frames: frames per patch (128 at hop 256 and 22.05 kHz = 1.49 s).
        patch_hop: frames between patch starts in the training set.
        k_grid: numbers of components of the held-out log-likelihood sweep (clipped to the rank).
        n_show: patches shown as images and players.
        gl_iter: Griffin-Lim iterations of every resynthesis (real and sampled alike).
        tonic_ref_hz: every clip is transposed to this tonic's pitch class for the
            class-conditional (per-maqam) Gaussians.
        eval_seconds: length of each sequence given to the maqam estimator, s.
        n_eval_real: real validation excerpts per maqam judged by the estimator (the ceiling).
        n_eval_samples: sampled sequences per maqam judged by the estimator.
        overlap_frames: conditioning frames when a sequence is grown patch by patch.
        long_patches: patches per long sequence (seams, long-lag autocorrelation).
        n_long: long sequences per kind.
        note_window: notes per note window.
        note_hop: notes between note-window starts.
        note_overlap: conditioning notes when a note sequence is grown window by window.
    """

    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = 4000.0
    hop_length: int = 256
    patch_frames: int = 128
    patch_hop: int = 64
    k_grid: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
    n_show: int = 4
    gl_iter: int = 32
    tonic_ref_hz: float = 146.83
    eval_seconds: float = 6.0
    n_eval_real: int = 2
    n_eval_samples: int = 3
    overlap_frames: int = 64
    long_patches: int = 6
    n_long: int = 8
    note_window: int = 16
    note_hop: int = 4
    note_overlap: int = 8


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel patches of the generative chapters (:mod:`maqamgen.features`).

    Attributes:
        n_mels: mel bands (the patch height ``H``).
        frames: frames per patch (the patch width ``W``); ``frames * hop_length / sr`` s.
        n_fft: STFT size of the mel spectrogram, samples.
        hop_length: hop between frames, samples.
        f_min, f_max: band edges of the mel filterbank, Hz.
        patch_stride: frames between the starts of consecutive patches cut from a clip.
        dynamic_range_db: the normalisation maps ``[top - dynamic_range_db, top]`` dB to [-1, 1]
            (``top``: the 99.9th percentile of the training patches).
    """

    n_mels: int = 64
    frames: int = 64
    n_fft: int = 2048
    hop_length: int = 512
    f_min: float = 50.0
    f_max: float = 1500.0
    patch_stride: int = 32
    dynamic_range_db: float = 80.0


@dataclass(frozen=True)
class DDPMChapterConfig:
    """Chapter 4 (U-Net DDPM on log-mel patches): model, training, grid, evaluation.

    The guidance weight ``w`` and the maqam of the figures are the chapter's scalar parameters
    (``guidance_scale``, ``maqam``).

    Attributes:
        features: the log-mel patches.
        preset: U-Net size (:data:`maqamgen.nets.unet.UNET_PRESETS`, the only place sizes live;
            ``report`` is the report's widths 32..512).
        T: diffusion steps.
        target: what the network predicts (``eps``, ``x0``, ``v``).
        p_uncond: classifier-free guidance: share of training samples with the null label.
        base: (schedule, loss) of the reference model; its optimizer is ``train.optimizer``.
        train: training of the reference model (:meth:`training`): steps, batch, peak learning
            rate, warm-up, weight decay (AdamW's decoupled decay; the grid's Adam and SGD runs
            train without), gradient clipping, EMA, loss logging. Every grid model and every size
            of Chapter 5 trains the same way, with its own steps (and batch). 1000 steps at
            ``book`` (for the book's time budget; 1500, then 1250 before): at 1250 (2026-12-06,
            275 s) the validation loss's best fell 0.4% over the run's last quarter, a plateau
            by the chapter's test, which reports it again at every build.
        lr_sgd: peak learning rate of SGD (momentum ``train.momentum``).
        grid: ``one_at_a_time`` (vary one factor of the reference) or ``full`` (every combination).
        grid_schedules, grid_losses, grid_optimizers: the factors' levels. At ``book`` the
            optimizers are AdamW (the reference's) and SGD; Adam, which is AdamW without its
            decoupled weight decay of 0.01 (a shrink of about 0.4% over the grid's 200 steps at
            the peak rate), trains at ``full`` only: at ``book`` it cost about 50 s of the
            book's 60 minutes for a row that differs from AdamW's by construction hardly at all.
        grid_steps: optimizer steps of each grid model.
        n_eval: generated samples per model for the metrics (and real ones in the real row).
        n_boot: bootstrap resamples of every interval.
        eval_sampler, eval_steps: sampler of the grid's evaluation.
        sampler_grid: (sampler, steps) pairs of the sampling study (on the reference model).
        n_sampler_eval: samples per sampler setting.
        classifier_steps: training steps of the in-domain classifier (Frechet distance).
        gl_iter: Griffin-Lim iterations of the audio players and pitch metrics.
        long_seconds: length of the stitched long generation, s.
        judge_window_s: window of the pitch-track maqam judge (:mod:`maqamgen.judge`), s: long
            enough to carry the maqam (6 s); shorter only where the corpus's clips are (smoke).
        window_eval_per_maqam: sequences of ``judge_window_s`` per maqam that each model
            generates (stitched patches) for the window judge.
        torch_threads: torch threads while the chapter runs (:func:`maqamgen.runtime.set_threads`;
            0: torch's default; :data:`BOOK_THREADS` at ``book``).
    """

    features: FeatureConfig = field(default_factory=FeatureConfig)
    preset: str = "tiny"
    T: int = 1000
    target: str = "eps"
    p_uncond: float = 0.1
    base: tuple[str, str] = ("cosine", "mse")
    train: TrainConfig = field(default_factory=lambda: DDPMChapterConfig.training(steps=1000))
    lr_sgd: float = 2e-2
    grid: str = "one_at_a_time"
    grid_schedules: tuple[str, ...] = ("linear", "cosine")
    grid_losses: tuple[str, ...] = ("mse", "mae")
    grid_optimizers: tuple[str, ...] = ("adamw", "sgd")
    grid_steps: int = 200
    n_eval: int = 16
    n_boot: int = 1000
    eval_sampler: str = "ddim"
    eval_steps: int = 10
    sampler_grid: tuple[tuple[str, int], ...] = (("ddim", 5), ("ddim", 10), ("ddim", 25),
                                                  ("ddpm", 100))
    n_sampler_eval: int = 8
    classifier_steps: int = 200
    gl_iter: int = 8
    long_seconds: float = 6.0
    judge_window_s: float = 6.0
    window_eval_per_maqam: int = 2
    torch_threads: int = BOOK_THREADS

    @staticmethod
    def training(steps: int = 120, batch_size: int = 8, lr: float = 2e-3, warmup_steps: int = 12,
                 **changes) -> TrainConfig:
        """The reference model's :class:`TrainConfig` with the given steps, batch, peak learning
        rate and warm-up: AdamW with decoupled weight decay 0.01, linear warm-up then cosine
        decay, gradient clipping at 1, an EMA of the weights (decay 0.995), a loss point every
        5 steps, a checkpoint at the end, on the CPU without a progress bar."""
        cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, optimizer="adamw",
                          weight_decay=0.01, warmup_steps=warmup_steps, grad_clip=1.0,
                          ema_decay=0.995, ckpt_every=steps, log_every=5, device="cpu",
                          progress=False)
        return cfg.replace(**changes) if changes else cfg


@dataclass(frozen=True)
class ScalingChapterConfig:
    """Chapter 5 (scaling and middle-part hallucination): sizes, budget, probes.

    The model, schedule, loss, optimizer, learning rate, classifier and sampler settings are
    Chapter 4's (``Profile.ddpm``); its ``features`` are the evaluation grid (the classifier's
    patch size) and the base of every size's patch settings.

    Attributes:
        sizes: input sizes ``(n_mels, frames)``, smallest first (dimensions ``n_mels * frames``).
        preset: U-Net preset trained at every size.
        budget: ``pixels``: the same optimizer steps and the same ``batch x n_mels x frames`` per
            step at every size (the same FLOPs for this fully convolutional net); ``patches``:
            the same steps and batch (larger inputs get proportionally more compute).
        steps: optimizer steps of every size.
        batch_size: batch at the evaluation grid's size (``ddpm.features``); other sizes scale it.
        patch_stride: frames between training patch starts.
        n_eval_frames: generated frames per size (``n_eval_frames // frames`` samples, at least 2).
        eval_steps: DDIM steps.
        probe_ts: timesteps of the denoising-error-by-position probe.
        n_loss_t: timesteps of the held-out loss.
        n_probe: held-out patches of the probes.
        n_bins: position bins of the profiles.
        n_long: long sequences per method in the long-sample comparison.
        torch_threads: torch threads while the chapter runs (0: torch's default; :data:`BOOK_THREADS`).
    """

    sizes: tuple[tuple[int, int], ...] = ((64, 64), (64, 128), (64, 256), (64, 512))
    preset: str = "tiny"
    budget: str = "pixels"
    steps: int = 120
    batch_size: int = 8
    patch_stride: int = 32
    n_eval_frames: int = 2048
    eval_steps: int = 10
    probe_ts: tuple[int, ...] = (50, 200, 500)
    n_loss_t: int = 8
    n_probe: int = 16
    n_bins: int = 9
    n_long: int = 4
    torch_threads: int = BOOK_THREADS


@dataclass(frozen=True)
class LatentChapterConfig:
    """Chapter 6 (latent diffusion and stitching) and ``maqamgen train latent``.

    Attributes:
        features: the log-mel grid (Chapter 4's: the autoencoder's input and the evaluation grid).
        ae_preset: autoencoder size (:data:`maqamgen.nets.autoencoder.AE_PRESETS`).
        ae_train: the autoencoder's training (on crops of ``ae_crop_frames`` frames).
        ae_crop_frames: frames per autoencoder training crop (the network is convolutional).
        latent_items: training crops that fit the latent scale (unit variance).
        vocoder_preset: learned decoder size (:data:`maqamgen.nets.vocoder.VOCODER_PRESETS`).
        vocoder_train: the learned decoder's training.
        vocoder_crop_frames: frames per vocoder training crop.
        fragment_frames: frames of one fragment, the latent U-Net's window (256 at hop 512: 5.9 s,
            the report's 6-s fragments).
        fragment_stride: frames between the starts of training fragments cut from a clip.
        preset: latent U-Net size (:data:`maqamgen.nets.unet.UNET_PRESETS`).
        schedule, T, loss, p_uncond: the diffusion model (as Chapter 4's).
            ``mse`` of the plain error: adding the mean squared change of the error from one
            latent frame to the next (weight 1), so that frame-to-frame detail such as vibrato
            weighs more, made Chapter 8's DiT no livelier (2026-12-07, off the book, ``book``,
            3000 steps against the same DiT with the plain loss: latent change 0.48 against
            0.50 not told and 0.27 against 0.37 asked for vibrato throughout; vibrato
            F1 on the real plans 0.04 [0.00, 0.10] against 0.06 [0.02, 0.12]). Weighting the
            squared error differently leaves its minimiser, the posterior mean, as it is; where
            the detail is unpredictable that mean is smooth, and the extra weight pulls the
            model towards it.
        target: what the latent models predict: ``v`` (Salimans & Ho 2022), not Chapter 4's
            ``eps``. Near ``T`` the cosine schedule's ``alpha_bar`` is almost 0, and an eps model's
            estimate ``x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)`` multiplies its
            error: latents are not bounded as mels are (no clip to [-1, 1] saves them), so samples
            drift. Measured at ``book`` with the DiT (2026-12-05): eps gave x0 errors of 68 (mean
            square) at ``t = 990``, samples of standard deviation 0.9 at 10 DDIM steps and 3.7 at
            50 (the latents: 1.0), and audio that FCPE calls voiced in 0.48 of its frames (real
            fragments through the same decoder: 0.94); v gave 0.78 to 0.86 at 10 to 50 steps.
            The DiT's Frechet distance fell from about 3.7 to 1.9.
        train: the latent U-Net's training (at ``book``, 1000 steps: about 340 to 520 s on two
            threads, which Chapter 8's DiT matches in wall time; 600 before the book took both
            cores). Cut to 800 (and the DiT to 6150) in a fresh ``book`` build of 0c1f9b6
            (2026-12-06), it saved about 200 s of the book and cost Chapter 8 its findings: the
            DiT's windows read 0.65 [0.50, 0.77] as the asked maqam (0.75 at 1000), its Frechet
            distance 1.74 against the U-Net's 2.03 (1.50 against 1.84), and vibrato asked on
            real plans +0.05 [-0.01, 0.14] over not told, no longer above 0 (+0.14 [0.05, 0.24]).
        p_generate, p_prefix, p_suffix: inpainting-mask training: share of items with no known
            frames, with a known prefix, with a known suffix (the rest: a known interior span).
        scale_profile: the latent U-Net's condition vector also holds the asked maqam's pitch
            classes on the asked tonic (:func:`maqamgen.maqam.scale_profile`;
            :func:`maqamgen.recipes.ch06_latent_diffusion.condition_vector`), as Chapter 8's DiT's
            does (:class:`DiTChapterConfig`), so that Chapter 8 compares the two networks on the
            same conditions. Told only the label and the tonic apart, the DiT had not learnt how
            they combine for hijaz (2 of 16 fragments read as hijaz at its training tonic
            against 14 with the scale, 2026-12-07); the U-Net, with the same conditioning MLP,
            has the same problem to solve. At its 1000 steps it gains little that can be told
            from chance: measured at ``book`` (2026-12-08, AMD with AVX-512; the fresh build of
            08bc983 against Chapters 6 and 8 re-run with the profile on its caches) its
            fragments read as the asked maqam 7 of 32 with the profile against 5 in Chapter 6
            (6 against 7 in Chapter 8), the windows of its MultiDiffusion pieces 4 of 18 with
            and without, Chapter 8's Frechet distance 1.85 [1.36, 2.44] against 1.72; the DiT's
            in the same build 26 of 32 and 1.45. The U-Net's limit is its budget, not its condition.
        sample_steps: DDIM steps of every latent sample.
        n_roundtrip: held-out fragments of the round-trip table.
        gl_iter: Griffin-Lim iterations.
        tol_cents: pitch tolerance of the round-trip and intonation measures, cents.
        n_boot: bootstrap resamples of every interval.
        n_eval: generated fragments judged on the common results schema.
        piece_seconds: length of each stitched piece, s (the report's minutes; 60 at ``book``).
        window_seconds: window of the maqam-consistency measure, s.
        n_pieces: pieces per stitching method (one maqam each, round the list). Under
            :data:`maqamgen.recipes.ch06_latent_diffusion.MIN_PIECES` the per-piece measures get
            no interval (3 at ``book``, the fewest that gets one).
        overlap_frames: latent frames shared by consecutive windows when stitching.
        n_resample: RePaint resampling of the outpainting method (1: none).
        torch_threads: torch threads while the chapter runs (0: torch's default; :data:`BOOK_THREADS`).
    """

    features: FeatureConfig = field(default_factory=FeatureConfig)
    ae_preset: str = "book"
    ae_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=300, batch_size=8, lr=1e-3, warmup_steps=20, ckpt_every=300, device="cpu", progress=False))
    ae_crop_frames: int = 64
    latent_items: int = 512
    vocoder_preset: str = "book"
    vocoder_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=900, batch_size=8, lr=1e-3, warmup_steps=50, ckpt_every=900, device="cpu",
        progress=False))
    vocoder_crop_frames: int = 32
    fragment_frames: int = 256
    fragment_stride: int = 64
    preset: str = "latent"
    schedule: str = "cosine"
    T: int = 1000
    target: str = "v"
    loss: str = "mse"
    p_uncond: float = 0.1
    train: TrainConfig = field(default_factory=lambda: DDPMChapterConfig.training(
        steps=1000, batch_size=16, lr=2e-3, warmup_steps=40))
    p_generate: float = 0.25
    p_prefix: float = 0.5
    p_suffix: float = 0.1
    scale_profile: bool = True
    sample_steps: int = 10
    n_roundtrip: int = 16
    gl_iter: int = 32
    tol_cents: float = 15.0
    n_boot: int = 1000
    n_eval: int = 32
    piece_seconds: float = 60.0
    window_seconds: float = 10.0
    n_pieces: int = 3
    overlap_frames: int = 16
    n_resample: int = 2
    torch_threads: int = BOOK_THREADS


DIT_ENCODING_ABLATIONS: tuple = (
    ("no ornament encoding", (("ornaments", False),)),
    ("no piece position", (("piece_pos", False),)),
    ("sin-cos time positions", (("time_pos", "sincos"),)),
    ("2D patches", (("tokenization", "patch"), ("freq_pos", True))),
    ("no scale profile", (("scale_profile", False),)))
"""Chapter 8's ablation at ``book``: each encoding of the reference DiT off or swapped."""

DIT_DESIGN_ABLATIONS: tuple = (
    ("ornaments added to tokens only", (("ornament_adaln", False),)),
    ("no local convolution", (("conv_kernel", 0),)))
"""The two design choices of the reference DiT that are not encodings (the ornaments' adaLN
offsets, the local convolution), ablated at ``full`` besides :data:`DIT_ENCODING_ABLATIONS`. At
``book`` their measurements at the reference's budget are in :class:`DiTChapterConfig`'s
docstring (``ornament_adaln``, ``conv_kernel``): at the ablation's 450 steps neither moved any
measure (fresh book build of 1c3aeda, 2026-12-06), and their two runs cost about 100 s."""


@dataclass(frozen=True)
class DiTChapterConfig:
    """Chapter 8 (the Diffusion Transformer on Chapter 6's latents) and ``maqamgen train dit``.

    The autoencoder, the latents, the noise schedule, the inpainting masks and the sampler are
    Chapter 6's (``Profile.latent``); this config holds what is the DiT's own.

    The chapter's verdicts are those of one training run, and not all of them survive another.
    Measured at ``book`` (2026-12-07, an Intel machine with AVX-512, the fresh build of 8a6e268
    against the chapter re-run with ``-p seed=1``: the latent U-Net, the DiT, the ablation, the
    classifier of the Frechet distance and every sample drawn again):

    * The slide asked over the fixed span beats not told: +0.14 [+0.08, +0.20] and +0.20 [+0.14,
      +0.26]. It was also above 0 on the AMD machine with AVX-512 (+0.11 [+0.06, +0.15] with
      three draws, +0.12 [+0.06, +0.17] with one).
    * The vibrato over the span is not distinguishable from 0 with either seed: +0.04 [-0.01,
      +0.10] and +0.03 [-0.05, +0.11].
    * The vibrato on real plans does not replicate: +0.14 [+0.07, +0.23] with seed 0 (above 0,
      as on the other machines), +0.05 [-0.02, +0.12] with seed 1.
    * Windows read as the asked maqam: 0.75 [0.61, 0.85] and 0.54 [0.40, 0.67]. With seed 1 the
      DiT's saba was read as bayati in all 6 windows, against the latent U-Net's 0.23 and 0.06.
    * Unchanged with both seeds: the Frechet distance not distinguishable from the U-Net's; the
      DiT's windows and whole fragments read as the asked maqam more often than the U-Net's,
      the intervals apart (whole fragments 20 and 18 of 32 against 7, the lower bound 0.39 with
      seed 1 just above the U-Net's upper 0.39).

    Attributes:
        preset: DiT size (:data:`maqamgen.nets.dit.DIT_PRESETS`).
        tokenization: ``time`` (one token per latent frame) or ``patch`` (2D patches of ``patch_size``).
        patch_size: side of a 2D patch, latent cells.
        time_pos: time-index encoding of the reference model (``sincos``, ``rope`` or ``none``).
            ``rope`` at every profile: at ``book``, with everything else equal (and the eps
            target of the time), rotary positions gave a Frechet distance of about 3.7 against
            about 8.4 with sin-cos (the chapter's ablation measures the pair again at its budget).
        piece_pos: the window's position in the piece (seconds from the start and in all) as a condition.
        ornaments: per-token ornament labels (vibrato, slide, trill, tremolo, none) as a condition.
            One class for every vibrato: telling its rate and depth did not bring the vibrato
            back. Measured at ``book`` (2026-12-07, off the book; the chapter's real plans of 28
            validation fragments, ``real_control_ceiling``): with the vibrato class split by the
            note's rate (thirds of 4.5 to 6.5 Hz) and depth (above or below 20 cents) into six,
            the DiT reached a vibrato F1 of 0.21 [0.10, 0.32] asked, against 0.12 [0.05, 0.20]
            with one class (7700 steps each; at 3000 steps 0.13 [0.06, 0.24] against 0.06
            [0.02, 0.12]): the intervals overlap, and both lie far below the autoencoder's
            ceiling of 0.61 [0.47, 0.74]. Asked for vibrato throughout, its latents changed no
            more from frame to frame (0.21 to 0.25 against 0.24,
            :func:`maqamgen.recipes.ch08_dit.frame_change`). Nor did a decoder told the
            ornament's pitch curve (2026-12-07, off the book, one Griffin-Lim draw): the
            autoencoder's decoder with FiLM on every block from the per-frame cents of the notes'
            ornaments (zero-initialised, 1200 steps on frozen training latents), given for the DiT's
            latents a curve built from the asked labels alone (5.5 Hz, 20 cents): vibrato F1
            0.06 [0.01, 0.12] asked on real plans, against 0.12 [0.05, 0.20] through the plain
            decoder; with the real notes' own curve on real latents 0.67 [0.54, 0.80] against
            0.73 [0.63, 0.82] (0.59 [0.45, 0.72] with no curve). The last batch's L1 barely
            moved (0.0425 against 0.0434 for the same decoder fine-tuned without the curve): at
            this budget the decoder makes little use of the curve.
        ornament_adaln: the ornament labels also modulate each token's adaLN in every block
            (:class:`maqamgen.nets.dit.DiTConfig`), besides being added to the tokens. Measured at
            ``book`` (2026-12-06; 9200 steps, two threads; 16 fragments asked at the maqam's
            training tonic for a slide over the middle 40%): slide F1 **0.25 [0.17, 0.34]**
            asked against 0.08 [0.02, 0.16] not told, where the tokens alone gave 0.11 [0.04,
            0.18] against 0.09 [0.04, 0.15]; vibrato 0.06 against 0.04 (the DiT makes almost
            none, asked or not). About 10% more step time.
        scale_profile: the condition vector also holds the asked maqam's absolute pitch classes at
            the asked tonic (:func:`maqamgen.maqam.scale_profile`,
            :func:`maqamgen.recipes.ch06_latent_diffusion.condition_vector`), besides the maqam
            label and the tonic vector. Without it the DiT has to learn how a label and a tonic
            combine, and it had not for hijaz: measured at ``book`` (2026-12-07, AMD with AVX-512,
            off the book; the fresh build of fe4a8a3's reference DiT against the same DiT trained
            with the profile, 7700 steps each; 16 fragments per maqam at its most frequent training
            tonic, read whole by the estimator with the tonic given): hijaz 2 of 16 against 14 of
            16, and asked on hijaz's other training tonics 10, 0 and 7 of 16 against 14, 11 and
            16; over the eight maqamat 82 of 128 (0.64) against 99 of 128 (0.77 [0.69, 0.84]),
            the share of voiced frames on the asked scale about 0.48 against 0.55. Nahawand went
            the other way (12 of 16 against 3). With training seed 1 (the same measurement, both
            DiTs trained again): 79 of 128 (0.62 [0.53, 0.70]) against 108 of 128 (0.84 [0.77,
            0.90]), the intervals apart; hijaz 1 against 11 of 16, nahawand 13 against 11. The
            latent U-Net of Chapter 6 is told the scale too (``LatentChapterConfig.scale_profile``),
            so the DiT against the U-Net compares the networks alone; the ablation's "no scale
            profile" row measures the profile at its budget. In the chapter (``book``, the same
            machine, the re-run of Chapter 8 on the caches of fe4a8a3's fresh build, against that
            build): windows read as the asked maqam 0.81 [0.68, 0.90] against 0.71 [0.57, 0.82]
            (nahawand now the weakest, 2 of 6, read as kurd in 3), whole fragments 26 against 21
            of 32, Frechet distance 1.45 against 1.52, the slide asked over the span +0.16 [+0.10,
            +0.21] against +0.11 [+0.06, +0.15], the vibrato on real plans +0.11 [+0.03, +0.19]
            against +0.09 [+0.02, +0.16]: one training run, the intervals overlapping for each.
            At the ablation's 450 steps no row is read right in more than 2 of 16 fragments, so
            that row tells nothing either way.
        conv_kernel: taps of the depthwise convolution along the time tokens inside each block's MLP
            (:class:`maqamgen.nets.dit.DiTConfig`; 0: none; the 2D-patch variant has none). Measured
            at ``book`` (2026-12-06, 9000 steps, two threads, the judges of the chapter; in
            brackets the same model without it, 9000 steps, in the fresh build of e87d02e): Frechet distance 1.48 [1.15, 1.87] (1.65 [1.06, 2.46]),
            in-scale share 0.51 [0.48, 0.53] (0.45 [0.41, 0.48]), maqam of whole fragments 0.63
            (0.50), vibrato detected per fragment 0.23 s (0.12 s) and vibrato asked F1 0.21 [0.08,
            0.33] (0.08 [0.02, 0.15]); windows of long pieces 0.69 (0.72). About 5% more step time.
        train: the reference DiT's training, matched in wall time with the latent U-Net's (the
            comparison is at matched compute): at ``book`` the preset has about the U-Net's
            parameters and, on two threads with ``ornament_adaln``, about a ninth of its step
            time (37 against 332 ms: in a ``book`` run of Chapter 8 on 2026-12-06, 7800 steps took
            285 s against the U-Net's 332 s for 1000). With ``conv_kernel`` 3, 8400 steps took 382 s
            against the U-Net's 349 s in a fresh ``book`` build (56d7a85, 2026-12-06; 45 ms a
            step), so it takes 7700 steps (6150 with the U-Net at 800 lost the chapter's
            findings: :class:`LatentChapterConfig` ``train``). In operations
            (:func:`maqamgen.diffusion.run.step_flops`) that is 20.9 TFLOP against the U-Net's
            36.0: a U-Net step costs 13.2 DiT steps, and this CPU runs the U-Net's convolutions
            faster than the DiT's many small products (54 against 36 GFLOP/s in the fresh build
            of c9abc69). Trained to matched operations instead (13200 steps, 35.9 TFLOP, 882 s;
            2026-12-07, the chapter's judges and seeds), the DiT gave a Frechet distance of 1.25
            [0.80, 1.94] (1.50 at 7700), fragments read 0.66 (0.59), windows 0.73 [0.59, 0.83]
            (0.75), vibrato asked on real plans +0.08 [-0.00, 0.17] over not told (+0.14), a
            slide over the fixed span +0.20 [0.14, 0.26] (+0.13): 1.7 times the compute moved
            no target of the issue.
        ablation_steps: optimizer steps of every ablation run (the reference is retrained at this
            budget too, so the ablation compares like with like).
        ablations: ``(name, ((field, value), ...))``: each changes the reference's network config
            (:data:`DIT_ENCODING_ABLATIONS`; at ``full`` also :data:`DIT_DESIGN_ABLATIONS`).
        ablation_eval: generated fragments judged per ablation run, and asked for each ornament
            (fewer than ``n_eval`` and ``n_control``: at ``book`` the judging of six runs on 32
            fragments each took 241 s of the chapter).
        ablation_pieces: long pieces per ablation run, for its seams and hallucination index (at
            most ``n_pieces``; at ``book`` each 60-s piece of an ablation run costs about 1.5 s).
        n_eval: generated fragments judged per model.
        n_control: fragments of the reference DiT's ornament control (each asked and not told, the
            same prompts and noise) and of its ceiling; the ablation's runs and the census take
            ``ablation_eval`` of them. 32 at ``book`` (was 16: the F1 of a condition then moved
            by about +-0.08 between builds, as much as the effect, and the verdict with it).
        gl_draws: Griffin-Lim draws (random initial phases) of each fragment that the reference
            DiT's ornament control and its ceiling judge, the F1 of a fragment being the mean
            over its draws (:func:`maqamgen.recipes.ch08_dit.detection_draws`); the ablation and
            the census judge one draw. Measured at ``book`` (2026-12-07, AVX-512 machine; the 28
            validation fragments of the ceiling that hold vibrato, four draws each): one draw's
            vibrato F1 of the same autoencoder mels ranged 0.58 to 0.73 between draws, and the
            draw carried 41 % (real) to 75 % (the DiT not told) of the variance of one
            fragment's F1. The DiT's vibrato asked on real plans minus not told was +0.07
            [-0.01, +0.16], +0.11 [-0.00, +0.22], +0.07 [-0.02, +0.17] and +0.13 [+0.01, +0.26]
            with one draw (its verdict moved with the draw), +0.09 to +0.11 with lower bounds
            +0.02 to +0.03 for each three of the four draws, and +0.10 [+0.03, +0.17] with all
            four. A draw costs about 0.3 s a fragment (Griffin-Lim and FCPE).
        n_probe: fragments (each split) whose frames the linear ornament probe is fitted on and
            scored on.
        probe_t: noise levels of the probe, as fractions of ``T``.
        context_multiples: window widths of the long-context study, in training fragments (1 =
            the trained width; 2 = attention, or convolution, over twice the context).
        control_kinds: ornaments asked for in the control study.
        ablation_control_kinds: ornaments each ablation run is asked for (of ``control_kinds``).
            At ``book`` the slide only: at the ablation's 450 steps no run drew a detectable
            vibrato where asked (vibrato F1 0.00 [0.00, 0.00] in all seven rows of the fresh book
            build of 1c3aeda, 2026-12-06), and asking cost about 8 s a row.
        control_span: ``(start, end)`` of the asked span as fractions of the fragment.
        n_pieces: long pieces per model (judged for seams and middle-part hallucination, and in
            10-s windows for the asked maqam), the maqamat in turn: 8 at ``book``, one per maqam
            of the corpus (was 6, which left kurd and ajam out of the window measure: on
            2026-12-06, 8 pieces of the reference DiT read kurd right in 6 windows of 6 and
            ajam in 3 of 6; was 3 before that: 18 windows, an interval of about +-0.15). The
            window share's interval counts the pieces, not the windows
            (:func:`maqamgen.metrics.clustered_wilson_interval`): on 2026-12-08 the DiT's 39 of
            48 windows came as 6, 6, 6, 4, 6, 2, 6 and 3 of 6 per piece (one maqam each), a
            design effect of 2.9, so 0.81 [0.57, 0.93] where Wilson over the windows gave
            [0.68, 0.90]. With a design effect of 3, a lower bound above 0.8 needs about 120
            pieces at a share of 0.85, 31 at 0.9 and 14 at 0.95: at ``book`` the bar can be
            shown met only by a DiT that reads nearly every window right.
        torch_threads: torch threads while the chapter runs (0: torch's default; :data:`BOOK_THREADS`).
    """

    preset: str = "book"
    tokenization: str = "time"
    patch_size: int = 8
    time_pos: str = "rope"
    piece_pos: bool = True
    ornaments: bool = True
    ornament_adaln: bool = True
    conv_kernel: int = 3
    scale_profile: bool = True
    train: TrainConfig = field(default_factory=lambda: DDPMChapterConfig.training(
        steps=7700, batch_size=16, lr=1e-3, warmup_steps=100))
    ablation_steps: int = 450
    ablation_eval: int = 16
    ablation_pieces: int = 3
    ablations: tuple = DIT_ENCODING_ABLATIONS
    n_eval: int = 32
    n_control: int = 32
    gl_draws: int = 3
    n_probe: int = 160
    probe_t: tuple[float, ...] = (0.1, 0.5)
    context_multiples: tuple[int, ...] = (1, 2)
    control_kinds: tuple[str, ...] = ("vibrato", "slide")
    ablation_control_kinds: tuple[str, ...] = ("slide",)
    control_span: tuple[float, float] = (0.3, 0.7)
    n_pieces: int = 8
    torch_threads: int = BOOK_THREADS


@dataclass(frozen=True)
class LSTMChapterConfig:
    """Chapter 7 (LSTM on note tokens) and ``maqamgen train lstm``: tokens, model, training, studies.

    Attributes:
        rate_hz: frames per second of 1D tokens.
        preset: LSTM size (:data:`maqamgen.nets.lstm.LSTM_PRESETS`, the only place sizes live).
        train: training of the reference run (:meth:`training`): steps, windows per step
            (``batch_size``), optimizer and its peak learning rate (cosine decay, gradient
            clipping at 1, no EMA). Every study run changes one thing of it.
        window: training window, tokens (the reference run).
        windows: window lengths of the sequence-length study (the window study and the
            "independent tokens" run keep ``train.batch_size * window`` tokens per step).
        optimizers: the optimizer study; ``lr_sgd`` is SGD's learning rate (momentum 0.9),
            ``weight_decay_adamw`` AdamW's decoupled weight decay.
        lrs: the learning-rate study (reference optimizer).
        losses: the loss study (:data:`maqamgen.recipes.ch07_lstm_tokens.LOSSES`).
        seeds: seeds of the seed-sensitivity study (the first is the reference).
        val_every: steps between points of the validation curve.
        n_bach: Bach chorales used (the last ``bach_val`` validate).
        bach_val: validation chorales.
        bach_bpm: chorale tempo, quarter notes per minute (120: a 16th note is one 8 Hz frame).
        prompt_seconds: opening of a validation clip used as the prompt of a continuation, s.
        gen_seconds: length of each judged continuation, s.
        n_judge: prompts (validation clips, one maqam after another) judged by the estimator.
        drift_seconds: length of the long generations of the drift study, s.
        drift_window_s: window of the drift metrics, s.
        n_drift_sliding: long generations also made the report's way (sliding 64-token window).
        temperature: sampling temperature.
        torch_threads: torch intra-op threads while training (0: torch's default; :data:`BOOK_THREADS`).
    """

    rate_hz: float = 8.0
    preset: str = "book"
    train: TrainConfig = field(default_factory=lambda: LSTMChapterConfig.training())
    window: int = 64
    windows: tuple[int, ...] = (16, 64, 256)
    optimizers: tuple[str, ...] = ("adam", "adamw", "sgd")
    lr_sgd: float = 0.1
    weight_decay_adamw: float = 0.01
    lrs: tuple[float, ...] = (2e-3, 1e-2, 4e-2)
    losses: tuple[str, ...] = ("ce", "label_smoothing", "mse")
    seeds: tuple[int, ...] = (0, 1, 2)
    val_every: int = 25
    n_bach: int = 100
    bach_val: int = 10
    bach_bpm: float = 120.0
    prompt_seconds: float = 4.0
    gen_seconds: float = 10.0
    n_judge: int = 8
    drift_seconds: float = 180.0
    drift_window_s: float = 15.0
    n_drift_sliding: int = 2
    temperature: float = 1.0
    torch_threads: int = BOOK_THREADS

    @staticmethod
    def training(steps: int = 300, batch_size: int = 16, lr: float = 1e-2, optimizer: str = "adam",
                 **changes) -> TrainConfig:
        """The reference run's :class:`TrainConfig` (cosine decay, gradient clipping at 1, no
        EMA, a loss point every 5 steps) with the given steps, batch, learning rate, optimizer."""
        cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, optimizer=optimizer,
                          weight_decay=0.0, grad_clip=1.0, ema_decay=None, ckpt_every=steps,
                          log_every=5, device="cpu", progress=False)
        return cfg.replace(**changes) if changes else cfg

    def train_config(self, seed: int = 0, optimizer: str | None = None, lr: float | None = None,
                     **changes) -> TrainConfig:
        """The :class:`TrainConfig` of one run: :attr:`train` with its seed, and the optimizer
        (SGD at ``lr_sgd``, AdamW with ``weight_decay_adamw``), learning rate or other fields
        a study changes."""
        opt = optimizer or self.train.optimizer
        if lr is None:
            lr = self.lr_sgd if opt == "sgd" else self.train.lr
        wd = self.weight_decay_adamw if opt == "adamw" else self.train.weight_decay
        return self.train.replace(seed=seed, optimizer=opt, lr=lr, weight_decay=wd, **changes)


@dataclass(frozen=True)
class Profile:
    """Everything a chapter needs besides its scalar parameters.

    Attributes:
        name: ``smoke``, ``book`` or ``full``.
        description: one line for the intro's table.
        seed: default seed of the whole book.
        audio: analysis settings.
        stft: Chapter 1 settings.
        corpus: the synthetic taqsim corpus (:func:`maqamgen.corpus.load`).
        estimation: Chapter 2 settings.
        pca: Chapter 3 settings (PCA Gaussian).
        ddpm: Chapter 4 settings (U-Net DDPM; also ``maqamgen train unet``).
        scaling: Chapter 5 settings (scaling and middle-part hallucination).
        latent: Chapter 6 settings (latent diffusion and stitching; also ``maqamgen train latent``).
        dit: Chapter 8 settings (the Diffusion Transformer; also ``maqamgen train dit``).
        lstm: Chapter 7 settings (LSTM on note tokens; also ``maqamgen train lstm``).
    """

    name: str
    description: str
    seed: int = 0
    audio: AudioConfig = field(default_factory=AudioConfig)
    stft: STFTChapterConfig = field(default_factory=STFTChapterConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    estimation: EstimationChapterConfig = field(default_factory=EstimationChapterConfig)
    pca: PCAChapterConfig = field(default_factory=PCAChapterConfig)
    ddpm: DDPMChapterConfig = field(default_factory=DDPMChapterConfig)
    scaling: ScalingChapterConfig = field(default_factory=ScalingChapterConfig)
    latent: LatentChapterConfig = field(default_factory=LatentChapterConfig)
    dit: DiTChapterConfig = field(default_factory=DiTChapterConfig)
    lstm: LSTMChapterConfig = field(default_factory=LSTMChapterConfig)

    def to_dict(self) -> dict:
        """Plain nested dict (JSON-serialisable) of every setting."""
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short content hash of the settings: cache keys of data and checkpoints use it."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="seconds per chapter: CI, nbval, checking that everything runs",
        stft=STFTChapterConfig(
            phrase_seconds=4.0,
            alpha_grid_db=(-80.0, -60.0, -40.0, -20.0),
            sigma_grid=(0.0, 1.0, 4.0),
            n_phrases=2,
            measure_seconds=3.0,
        ),
        corpus=CorpusConfig(n_per_maqam=3, seconds_min=4.0, seconds_max=6.0,
                            snr_db_min=20.0, snr_db_max=40.0),
        estimation=EstimationChapterConfig(crop_seconds=(2.0, 4.0), n_listen=2, listen_seconds=4.0),
        pca=PCAChapterConfig(patch_frames=64, patch_hop=32, k_grid=(1, 4, 16, 64),
                             n_show=2, gl_iter=8, eval_seconds=2.5, n_eval_real=1, n_eval_samples=1,
                             overlap_frames=32, long_patches=4, n_long=2, note_window=4, note_hop=1,
                             note_overlap=2),
        ddpm=DDPMChapterConfig(train=DDPMChapterConfig.training(steps=8, warmup_steps=0),
                               grid_schedules=("linear", "cosine"), grid_losses=("mse",),
                               grid_optimizers=("adamw", "sgd"), grid_steps=8, n_eval=8, n_boot=200,
                               judge_window_s=4.0, window_eval_per_maqam=1,
                               eval_steps=3, sampler_grid=(("ddim", 3), ("ddpm", 10)),
                               n_sampler_eval=4, classifier_steps=10, gl_iter=4,
                               long_seconds=2.0, torch_threads=SMOKE_THREADS),
        scaling=ScalingChapterConfig(sizes=((64, 32), (64, 64), (64, 128)), steps=6,
                                     n_eval_frames=256, eval_steps=3, probe_ts=(200,), n_loss_t=2,
                                     n_probe=4, n_bins=6, n_long=1, torch_threads=SMOKE_THREADS),
        latent=LatentChapterConfig(
            ae_train=TrainConfig(steps=6, batch_size=4, lr=1e-3, ckpt_every=6, device="cpu", progress=False),
            latent_items=32,
            vocoder_train=TrainConfig(steps=4, batch_size=4, lr=1e-3, ckpt_every=4, device="cpu",
                                      progress=False),
            fragment_frames=64, fragment_stride=32,
            train=DDPMChapterConfig.training(steps=8, batch_size=4, warmup_steps=0),
            sample_steps=3, n_roundtrip=3, gl_iter=4, n_boot=100, n_eval=4, piece_seconds=8.0,
            window_seconds=4.0, n_pieces=2, overlap_frames=4, n_resample=1,
            torch_threads=SMOKE_THREADS),
        dit=DiTChapterConfig(train=DDPMChapterConfig.training(steps=8, batch_size=4, warmup_steps=0),
                             ablation_steps=4, ablations=(("no ornament encoding", (("ornaments", False),)),),
                             n_eval=4, n_control=2, gl_draws=1, n_pieces=1, n_probe=8,
                             torch_threads=SMOKE_THREADS),
        lstm=LSTMChapterConfig(train=LSTMChapterConfig.training(steps=30), windows=(16, 64),
                               seeds=(0, 1), val_every=10, n_bach=12,
                               bach_val=3, prompt_seconds=2.0, gen_seconds=5.0, n_judge=2,
                               drift_seconds=30.0, drift_window_s=5.0, n_drift_sliding=1,
                               torch_threads=SMOKE_THREADS),
    ),
    "book": Profile(
        name="book",
        description="the rendered book: every chapter on a 2-core CPU in about an hour in all",
        corpus=CorpusConfig(n_per_maqam=16, seconds_min=13.0, seconds_max=17.0,
                            snr_db_min=20.0, snr_db_max=50.0),
        pca=PCAChapterConfig(patch_hop=128),
    ),
    "full": Profile(
        name="full",
        description="the report's scale: long phrases, many seeds; meant for a GPU",
        stft=STFTChapterConfig(
            phrase_seconds=12.0,
            alpha_grid_db=tuple(float(a) for a in range(-90, 0, 5)),
            sigma_grid=(0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
            n_phrases=32,
            measure_seconds=10.0,
        ),
        corpus=CorpusConfig(n_per_maqam=120, seconds_min=20.0, seconds_max=40.0,
                            snr_db_min=10.0, snr_db_max=50.0),
        estimation=EstimationChapterConfig(crop_seconds=(2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0)),
        pca=PCAChapterConfig(patch_frames=256, patch_hop=64,
                             k_grid=(1, 4, 16, 64, 256, 1024, 4096, 8192), n_show=6, gl_iter=64,
                             eval_seconds=12.0, n_eval_real=8, n_eval_samples=16, overlap_frames=128,
                             long_patches=8, n_long=32, note_window=24, note_hop=2, note_overlap=12),
        ddpm=DDPMChapterConfig(features=FeatureConfig(n_mels=128, frames=128, f_max=4000.0),
                               preset="report",
                               train=DDPMChapterConfig.training(steps=20000, batch_size=32, lr=2e-4,
                                                                warmup_steps=50, device="auto"),
                               lr_sgd=1e-2, grid="full", grid_schedules=("linear", "cosine", "sigmoid"),
                               grid_optimizers=("adam", "adamw", "sgd"),
                               grid_steps=5000, n_eval=256, eval_steps=50, window_eval_per_maqam=32,
                               sampler_grid=(("ddim", 5), ("ddim", 10), ("ddim", 20), ("ddim", 50),
                                             ("ddim", 100), ("ddpm", 250), ("ddpm", 1000)),
                               n_sampler_eval=64, classifier_steps=4000, gl_iter=64,
                               long_seconds=30.0, torch_threads=0),
        scaling=ScalingChapterConfig(sizes=((32, 64), (64, 64), (64, 128), (64, 256), (128, 256),
                                            (128, 512)),
                                     preset="report", steps=5000, batch_size=32, n_eval_frames=16384,
                                     eval_steps=50, probe_ts=(20, 100, 200, 500, 800), n_loss_t=16,
                                     n_probe=128, n_bins=12, n_long=8, torch_threads=0),
        latent=LatentChapterConfig(
            features=FeatureConfig(n_mels=128, frames=128, hop_length=256, f_max=4000.0),
            ae_preset="full",
            ae_train=TrainConfig(steps=20000, batch_size=32, lr=5e-4, warmup_steps=200, device="auto"),
            ae_crop_frames=128, latent_items=4096,
            vocoder_train=TrainConfig(steps=50000, batch_size=16, lr=5e-4, warmup_steps=500,
                                      device="auto"),
            fragment_frames=512, fragment_stride=128, preset="report",
            train=DDPMChapterConfig.training(steps=50000, batch_size=32, lr=2e-4, warmup_steps=500,
                                             device="auto"),
            sample_steps=50, n_roundtrip=128, gl_iter=64, n_eval=256, piece_seconds=120.0,
            n_pieces=16, overlap_frames=32, n_resample=4, torch_threads=0),
        dit=DiTChapterConfig(preset="full", patch_size=4,
                             train=DDPMChapterConfig.training(steps=100000, batch_size=64, lr=1e-4,
                                                              warmup_steps=1000, device="auto"),
                             ablation_steps=20000, ablation_pieces=8,
                             ablations=DIT_ENCODING_ABLATIONS + DIT_DESIGN_ABLATIONS,
                             ablation_control_kinds=("vibrato", "slide"),
                             n_eval=256, n_control=64, gl_draws=4, n_pieces=16,
                             torch_threads=0),
        lstm=LSTMChapterConfig(preset="full", train=LSTMChapterConfig.training(steps=3000, batch_size=32, lr=2e-3),
                               seeds=(0, 1, 2, 3, 4), n_bach=371, bach_val=37,
                               gen_seconds=20.0, n_judge=24, drift_seconds=600.0, drift_window_s=30.0,
                               n_drift_sliding=4, torch_threads=0),
    ),
}


def profile(name: str) -> Profile:
    """The profile called ``name``.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}"
        ) from None
