"""maqamgen: the code behind the book *Context-Aware Generative Audio for Maqam Music*.

One line per module and subpackage (the README's Layout section says the same):

* errors -- typed errors that name the file and what is wrong
* config -- dataclass configs and the profiles smoke / book / full (the one config path)
* runtime -- repo paths, the cache folder, content digests, the one atomic write, threads
* audio -- audio I/O, STFT, theta_alpha thresholding, Gaussian smoothing, Griffin-Lim
* synth -- the oud synthesizer (plucked-string modal model + body resonance)
* maqam -- maqamat as scale degrees in cents, built from ajnas
* notes -- the report's note JSON: read, validate, write
* estimate -- maqam and tonic from audio: the report's FFT method and the pitch-based estimator
* viterbi -- pYIN's Viterbi decoding over banded transitions, librosa's states exactly
* corpus -- the synthetic taqsim corpus, labelled and cached
* data -- loaders: the user's recordings, note JSON folders, MIDI, the Bach chorales
* features -- normalised log-mel patches of the corpus (cut, cached, inverted)
* tokens -- note lists as 1D and 2D microtonal tokens
* sequences -- token sequences as training windows
* gaussian -- the PCA Gaussian x = mu_hat + E Lambda^1/2 z
* train -- the one training loop (seeds, exact resume, EMA, progress, DDP)
* diffusion/ -- core (schedules, q_sample, samplers, guidance, inpainting), run (train / cache /
  load / sample any denoiser), stitch (long generation from overlapping windows)
* nets/ -- embeddings (timestep and positional encodings), unet, lstm, autoencoder, vocoder, dit,
  report_unet (the report's own U-Net, the time-to-quality baseline); presets in one registry each;
  depthwise (depthwise 1-D convolution as shifted multiply-adds, for the FCPE judge)
* metrics -- one definition per measured quantity (formula, units, chapters)
* evaluation -- the one evaluator of generated spectrograms and audio
* classifier -- the in-domain spectrogram classifier (1.5-s patches)
* judge -- the pitch-track judge of 6-s windows (maqam with or without a known tonic; FD embedding)
* trackers -- pitch trackers side by side: pYIN and the pretrained FCPE judge; intonation, agreement
* ornaments -- ornament detector (vibrato, trill, slide, risha tremolo): validation, control score
* recipes/ -- thin chapter recipes: ch03_pca_gaussian, ch04_unet_ddpm, ch05_scaling,
  ch06_latent_diffusion (autoencoder, vocoder, round trip), ch06_system (train/generate latent), ch07_lstm_tokens,
  ch08_dit (DiT specs, ablations, ornament control), ch08_system (train/generate dit),
  results_chapter (every model on one table; the report's claims with computed verdicts)
* plots -- figure helpers that draw on a given ax, audio-player tables, live figures
* results -- the results store and its one schema (results.table)
* listening -- the listening room: one condition rendered by every model a chapter cached (never
  trains), judged alike; players, spectrograms, pitch tracks, a widget panel
* book -- the notebook pipeline (pairs, papermill, cache keys, Jupyter Book)
* cli -- the ``maqamgen`` command
"""

from maqamgen.errors import MaqamgenError

__all__ = ["MaqamgenError"]
__version__ = "0.1.0"
