"""Figure helpers. Each draws on an ``ax`` it is given (libfmp style) and returns what it drew.

``audio_table`` lays out labelled audio players side by side (an HTML table of ``<audio>``).

Used in: book/part1/01_stft_filtering.md
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np


def spectrogram(ax, F_db: np.ndarray, sr: int, hop_length: int, fmax: float | None = 2000.0,
                vmin: float | None = -80.0, vmax: float | None = 0.0, title: str | None = None,
                cmap: str = "magma", colorbar: bool = False):
    """Draw a dB spectrogram with time (s) across and frequency (Hz) up.

    Args:
        ax: matplotlib axes.
        F_db: shape (m, n) = (n_fft // 2 + 1, frames), dB.
        sr: sample rate, Hz. hop_length: STFT hop, samples.
        fmax: highest frequency shown, Hz (None: Nyquist).
        vmin, vmax: colour range, dB.

    Returns:
        The ``AxesImage``.
    """
    m, n = F_db.shape
    nyq = sr / 2
    top = nyq if fmax is None else min(fmax, nyq)
    rows = int(np.ceil(top / nyq * (m - 1))) + 1
    img = ax.imshow(F_db[:rows], origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                    extent=(0, n * hop_length / sr, 0, (rows - 1) * nyq / (m - 1)),
                    interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(img, ax=ax, label="dB")
    return img


def notes_overlay(ax, notes, color: str = "cyan", harmonics: int = 1, **kw):
    """Draw each note's pitch (and ``harmonics - 1`` overtones) as a segment over a spectrogram."""
    kw = {"lw": 1.0, "alpha": 0.8, **kw}
    segs = []
    for n in notes:
        for h in range(1, harmonics + 1):
            segs.append(ax.plot([n.onset, n.offset], [h * n.freq_hz] * 2, color=color, **kw)[0])
    return segs


def note_roll(ax, notes, tonic_hz: float | None = None, degrees_cents=None, color: str = "C0"):
    """Piano roll of a note list: time (s) across, pitch up (cents above the tonic, or Hz).

    Ornamented notes are hatched and labelled with the ornament type.

    Used in: book/part1/01_stft_filtering.md, book/part2/07_lstm_tokens.md
    """
    from matplotlib.patches import Rectangle

    def y(f):
        return 1200 * np.log2(f / tonic_hz) if tonic_hz else f

    h = 30.0 if tonic_hz else None
    for n in notes:
        yy = y(n.freq_hz)
        height = h if h else n.freq_hz * 0.02
        orn = n.ornament["type"] if n.ornament else None
        ax.add_patch(Rectangle((n.onset, yy - height / 2), n.duration, height, color=color,
                               alpha=0.4 + 0.5 * n.velocity, hatch="///" if orn else None, lw=0))
        if orn:
            ax.text(n.onset, yy + height, orn, fontsize=7, va="bottom")
    ys = [y(n.freq_hz) for n in notes]
    if degrees_cents is not None and tonic_hz:
        for octave in range(int(np.floor(min(ys) / 1200)) - 1, int(np.ceil(max(ys) / 1200)) + 1):
            for c in degrees_cents:
                ax.axhline(c + 1200 * octave, color="0.6" if c == 0 else "0.85", lw=0.6, zorder=0)
    ax.set_xlim(0, max(n.offset for n in notes) + 0.2)
    pad = 100 if tonic_hz else 20
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cents above the tonic" if tonic_hz else "frequency (Hz)")
    return ax


def spectrum(ax, freqs: np.ndarray, mag_db: np.ndarray, peaks_hz=None, fmax: float = 2000.0,
             true_hz=None, title: str | None = None):
    """Magnitude spectrum in dB against Hz, with detected peaks (dots) and true pitches (lines)."""
    keep = freqs <= fmax
    ax.plot(freqs[keep], mag_db[keep], lw=0.6, color="0.2")
    if true_hz is not None:
        for i, f in enumerate(true_hz):
            ax.axvline(f, color="C2", lw=0.8, alpha=0.6, label="pitches played" if i == 0 else None)
    if peaks_hz is not None and len(peaks_hz):
        lv = np.interp(peaks_hz, freqs, mag_db)
        ax.plot(peaks_hz, lv, "o", color="C3", ms=4, label="dominant peaks")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("dB re max")
    ax.set_xlim(0, fmax)
    if title:
        ax.set_title(title)
    if true_hz is not None or peaks_hz is not None:
        ax.legend(loc="upper right", fontsize=8)
    return ax


def kernel(ax, K: np.ndarray, frame_s: float, bin_hz: float, title: str | None = None):
    """Show a 2-D smoothing kernel with axes in seconds and Hz."""
    kf, kt = K.shape
    img = ax.imshow(K, origin="lower", aspect="auto", cmap="viridis",
                    extent=(-(kt // 2 + .5) * frame_s * 1e3, (kt // 2 + .5) * frame_s * 1e3,
                            -(kf // 2 + .5) * bin_hz, (kf // 2 + .5) * bin_hz))
    ax.set_xlabel("time offset (ms)")
    ax.set_ylabel("frequency offset (Hz)")
    if title:
        ax.set_title(title)
    return img


def band(ax, x, values: np.ndarray, label: str | None = None, color=None, marker: str = "o"):
    """Mean line with a min-max band over the rows of ``values`` (shape (runs, len(x)))."""
    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=0)
    line = ax.plot(x, mean, marker=marker, ms=3, label=label, color=color)[0]
    if values.shape[0] > 1:
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), alpha=0.2, color=line.get_color())
    return line


def figure_png(fig, dpi: int = 96) -> bytes:
    """PNG bytes of a matplotlib figure (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def live_figure(draw, figsize=(8, 3), **controls):
    """A figure redrawn whenever one of the ``controls`` (ipywidgets) changes.

    ``draw(ax, **values)`` draws on a fresh axes; the figure is shown as an ``Image`` widget
    updated from the controls' ``observe`` callbacks. No ``Output`` widget and no ``interact``:
    executing those under papermill/nbclient can deadlock (jupyter/nbclient#312,
    jupyter/nbconvert#2029), which a book built in CI cannot afford.

    Returns:
        An ``ipywidgets.VBox`` (controls above the figure).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def render() -> bytes:
        fig, ax = plt.subplots(figsize=figsize)
        draw(ax, **{name: w.value for name, w in controls.items()})
        return figure_png(fig)

    image = widgets.Image(value=render(), format="png")

    def update(_change):
        image.value = render()

    for w in controls.values():
        w.observe(update, names="value")
    return widgets.VBox([widgets.HBox(list(controls.values())), image])


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV bytes of mono float audio (peak-normalised if it exceeds 1)."""
    import soundfile as sf

    y = np.asarray(y, dtype=np.float32)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        y = y / peak
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class AudioTable:
    """Labelled ``<audio>`` players side by side (wrapping); renders as HTML in notebooks and the book."""

    def __init__(self, items: dict[str, tuple[np.ndarray, int]], captions: dict[str, str] | None = None):
        self.items = items
        self.captions = captions or {}

    def _repr_html_(self) -> str:
        cells = []
        for label, (y, sr) in self.items.items():
            b64 = base64.b64encode(wav_bytes(y, sr)).decode("ascii")
            cap = html.escape(self.captions.get(label, f"{len(y) / sr:.1f} s"))
            cells.append(
                "<div style='flex:0 0 auto;padding:4px 6px'>"
                f"<div style='font-weight:600'>{html.escape(label)}</div>"
                f"<audio controls preload='metadata' src='data:audio/wav;base64,{b64}'></audio>"
                f"<div style='font-size:80%;color:#555'>{cap}</div></div>")
        return ("<div class='maqamgen-audio' style='display:flex;flex-wrap:wrap;gap:4px 12px'>"
                + "".join(cells) + "</div>")

    def __repr__(self) -> str:
        return "AudioTable(" + ", ".join(self.items) + ")"


def audio_table(items: dict[str, tuple[np.ndarray, int]], captions: dict[str, str] | None = None) -> AudioTable:
    """Players for each ``label -> (audio, sr)``, side by side, with optional captions."""
    return AudioTable(items, captions)


def plot_patch(ax, x, fcfg, sr: int, title: str | None = None, vmin: float = -1.0,
               vmax: float = 1.0, yticks: bool = True):
    """Draw a normalised log-mel patch ``(n_mels, frames)`` (or ``(1, n_mels, frames)``) on ``ax``.

    Time in seconds on x; mel bands on y, labelled with their centre frequencies in Hz.

    Used in: book/part1/04_unet_ddpm.md
    """
    a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    a = a.reshape(a.shape[-2], a.shape[-1])
    secs = a.shape[1] * fcfg.hop_length / sr
    img = ax.imshow(a, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                    extent=(0, secs, -0.5, a.shape[0] - 0.5), interpolation="nearest")
    if yticks:
        lo, hi = (2595.0 * np.log10(1.0 + f / 700.0) for f in (fcfg.f_min, fcfg.f_max))  # HTK mel
        centres = [700.0 * (10 ** ((lo + (hi - lo) * (k + 1) / (fcfg.n_mels + 1)) / 2595.0) - 1.0)
                   for k in range(fcfg.n_mels)]
        ticks = np.linspace(0, fcfg.n_mels - 1, 4).round().astype(int)
        ax.set_yticks(ticks, [f"{centres[k]:.0f}" for k in ticks])
        ax.set_ylabel("Hz (mel)")
    else:
        ax.set_yticks([])
    ax.set_xlabel("s")
    if title:
        ax.set_title(title, fontsize=9)
    return img


def confusion(ax, C: np.ndarray, labels, title: str | None = None, xlabel: str = "estimated",
              ylabel: str = "true"):
    """A confusion matrix ``C[i, j]`` (items of ``labels[i]`` read as ``labels[j]``) as a heat map
    with its non-zero counts written in the cells.

    Used in: book/part1/02_maqam_estimation.md, book/part1/04_unet_ddpm.md
    """
    C = np.asarray(C)
    ax.imshow(C, cmap="Blues")
    for i in range(C.shape[0]):
        for j in range(C.shape[1]):
            if C[i, j]:
                ax.text(j, i, int(C[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if C[i, j] > C.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def dit_diagram(ax, config):
    """The Diffusion Transformer of ``config`` (a :class:`maqamgen.nets.dit.DiTConfig`) drawn as
    boxes and arrows: the token path (latent grid -> tokens -> positions and ornaments -> blocks
    -> final layer -> grid) and the conditioning path (step, maqam, tonic, place in the piece ->
    ``c`` -> every block's adaLN-Zero modulation, plus per-token ornament offsets with
    ``ornament_adaln``). The labels are read from ``config``, so the
    drawing is of the model that is trained.

    Used in: book/part3/08_dit.md
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    cfg = config
    H, W = cfg.input_size
    if cfg.tokenization == "time":
        tok = f"{W} time tokens\n(one per latent frame,\n{cfg.in_channels}x{H} values each)"
    else:
        p = cfg.patch_size
        tok = f"{(H // p) * (W // p)} patch tokens\n({p}x{p} patches)"
    pos = {"sincos": "+ sin-cos time index", "rope": "rotary positions\n(inside attention)",
           "none": "no time index"}[cfg.time_pos]
    if cfg.freq_pos:
        pos += "\n+ frequency band"
    main = [("noisy latent $x_t$\n" + f"({cfg.in_channels}x{H}x{W})"
             + ("\n+ known frames, mask" if cfg.inpainting else ""), "0.92"),
            (f"linear embed -> {tok}", "#dbe9f6"),
            (pos + ("\n+ ornament embedding\n(per token)" if cfg.ornaments else ""), "#fde9d9"),
            (f"{cfg.depth} x DiT block (width {cfg.d_model},\n{cfg.n_heads} heads): adaLN-Zero,\n"
             + ("per-token ornament offsets,\n" if cfg.ornament_adaln else "")
             + "attention, MLP, gates", "#d9f0d3"),
            ("final layer (adaLN,\nzero-initialised) -> grid", "#dbe9f6"),
            ("prediction ($\\epsilon$, $x_0$ or $v$)", "0.92")]
    cond = ["diffusion step $t$\n(sinusoid, MLP)", "maqam label\n(embedding; null for CFG)"]
    if cfg.cond_dim:
        cond.append("tonic vector\n(MLP)")
    if cfg.piece_pos:
        cond.append("start and length\nin the piece (s)")
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.5, len(main) + 0.2)
    ax.axis("off")
    centres = []
    for i, (text, colour) in enumerate(main):
        y = len(main) - 1 - i
        ax.add_patch(FancyBboxPatch((0.3, y - 0.32), 4.6, 0.64, boxstyle="round,pad=0.05", fc=colour, ec="0.3"))
        ax.text(2.6, y, text, ha="center", va="center", fontsize=7.5)
        centres.append(y)
    for a, b in zip(centres[:-1], centres[1:]):
        ax.add_patch(FancyArrowPatch((2.6, a - 0.37), (2.6, b + 0.37), arrowstyle="-|>", mutation_scale=10, color="0.3"))
    y_c = centres[3]
    ys = np.linspace(len(main) - 0.6, 0.2, len(cond))
    for y, text in zip(ys, cond):
        ax.add_patch(FancyBboxPatch((6.6, y - 0.28), 3.1, 0.56, boxstyle="round,pad=0.05", fc="#efe3f5", ec="0.3"))
        ax.text(8.15, y, text, ha="center", va="center", fontsize=7)
        ax.add_patch(FancyArrowPatch((6.55, y), (5.95, y_c), arrowstyle="-", color="0.5", lw=0.8))
    ax.add_patch(FancyBboxPatch((5.45, y_c - 0.22), 0.5, 0.44, boxstyle="circle,pad=0.02", fc="white", ec="0.3"))
    ax.text(5.7, y_c, "$c$", ha="center", va="center", fontsize=9)
    ax.add_patch(FancyArrowPatch((5.42, y_c), (4.95, y_c), arrowstyle="-|>", mutation_scale=10, color="0.3"))
    ax.add_patch(FancyArrowPatch((5.7, y_c - 0.25), (4.95, centres[4]), arrowstyle="-|>", mutation_scale=10,
                                 color="0.3", connectionstyle="arc3,rad=-0.2"))
    ax.text(5.1, y_c + 0.42, "shift, scale, gate\nper block", fontsize=6.5, ha="left", va="bottom")
    return ax
