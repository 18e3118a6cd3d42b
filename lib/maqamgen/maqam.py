"""Maqamat as scale degrees in cents, built from ajnas (tetrachords and trichords).

Every interval here is a whole number of 24-TET quarter tones (50 cents), the usual
theoretical notation of Arabic music; real performance tunings deviate from it (the
*sikah* neutral third is often lower than 350 cents), which later chapters measure.

A maqam is given as data: its ajnas, each placed on a scale degree, and the "link" steps
that no jins covers. :func:`_build_steps` turns that into the seven steps of one octave and
checks that overlapping ajnas agree and that the steps close the octave (24 quarter tones).

Two layers of data sit on top of the theory:

* **Practice intonation** (:data:`INTONATION_CENTS`): how far each degree is played from its
  24-TET position, measured on the fixed pitch grid (C, D, F, G stay put; the neutral and
  "coloured" notes move). :func:`degrees_cents` with ``practice=True`` gives the degrees as
  played, relative to the played tonic.
* **Descending forms** (:data:`DESCENDING_QT_DELTA`) and the **octave** (:data:`OCTAVE_CENTS`):
  some maqamat take other notes on the way down (rast descends with B-flat, nahawand with the
  kurd upper jins), and saba does not close at the octave.

Units: cents (1200 per octave) and Hz. Degree indices are 0-based from the tonic.

Used in: book/part1/01_stft_filtering.md
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from maqamgen.errors import ConfigError

QUARTER_TONE_CENTS = 50.0
"""One 24-TET quarter tone, in cents."""

OCTAVE_QT = 24
"""Quarter tones per octave."""

A4_HZ = 440.0
"""Concert pitch reference, in Hz."""

JINS_QT: dict[str, tuple[int, ...]] = {
    "rast": (4, 3, 3),  # C D E-half-flat F
    "bayati": (3, 3, 4),  # D E-half-flat F G
    "sikah": (3, 4),  # E-half-flat F G (trichord)
    "hijaz": (2, 6, 2),  # D Eb F# G (augmented second in the middle)
    "saba": (3, 3, 2),  # D E-half-flat F Gb (diminished fourth)
    "nahawand": (4, 2, 4),  # C D Eb F
    "kurd": (2, 4, 4),  # D Eb F G
    "ajam": (4, 4, 2),  # Bb C D Eb
    "nikriz": (4, 2, 6, 2),  # C D Eb F# G (pentachord)
}
"""Ajnas as successive intervals in quarter tones (multiply by 50 for cents)."""

NOTE_OFFSETS_CENTS = {"C": 0, "D": 200, "E": 400, "F": 500, "G": 700, "A": 900, "B": 1100}
ACCIDENTAL_CENTS = {"": 0, "#": 100, "b": -100, "-half-flat": -50, "-half-sharp": 50}


@dataclass(frozen=True)
class _MaqamSpec:
    ajnas: tuple[tuple[str, int], ...]  # (jins name, degree index where it starts)
    links: tuple[tuple[int, int], ...]  # (degree index, step in quarter tones) not in a jins
    tonic_name: str
    alt_tonic_names: tuple[str, ...] = ()


_SPECS: dict[str, _MaqamSpec] = {
    "rast": _MaqamSpec((("rast", 0), ("rast", 4)), ((3, 4),), "C3"),
    "bayati": _MaqamSpec((("bayati", 0), ("nahawand", 3)), ((6, 4),), "D3"),
    "sikah": _MaqamSpec((("sikah", 0), ("rast", 2)), ((5, 4), (6, 3)), "E-half-flat3"),
    "hijaz": _MaqamSpec((("hijaz", 0), ("nahawand", 3)), ((6, 4),), "D3"),
    "saba": _MaqamSpec((("saba", 0), ("hijaz", 2)), ((5, 4), (6, 4)), "D3"),
    "nahawand": _MaqamSpec((("nahawand", 0), ("hijaz", 4)), ((3, 4),), "C3", ("G2",)),
    "kurd": _MaqamSpec((("kurd", 0), ("nahawand", 3)), ((6, 4),), "D3"),
    "ajam": _MaqamSpec((("ajam", 0), ("ajam", 4)), ((3, 4),), "Bb2", ("C3",)),
    "suznak": _MaqamSpec((("rast", 0), ("hijaz", 4)), ((3, 4),), "C3"),
    "huzam": _MaqamSpec((("sikah", 0), ("hijaz", 2)), ((5, 4), (6, 3)), "E-half-flat3"),
    "nikriz": _MaqamSpec((("nikriz", 0), ("nahawand", 4)), (), "C3"),
}

INTONATION_CENTS: dict[str, dict[int, float]] = {
    # rast: the neutral third E-half-flat and seventh B-half-flat sit high, ~355-370 cents
    # and ~1055-1070 cents above C (Syrian and Egyptian practice), not at 350 / 1050.
    "rast": {2: +12.0, 6: +12.0},
    # suznak: the rast lower jins, intoned as in rast.
    "suznak": {2: +12.0},
    # bayati: the second E-half-flat is low, ~140-145 cents above D rather than 150.
    "bayati": {1: -8.0},
    # saba: the same low second as bayati (the saba jins starts like bayati).
    "saba": {1: -8.0},
    # sikah: the neutral tonic E-half-flat and its fifth B-half-flat are played low
    # (~335 cents above C); measured from that low tonic, F, G, A, C and D lie 15 cents
    # further up than the 24-TET degrees.
    "sikah": {0: -15.0, 4: -15.0},
    # huzam: the same low sikah tonic.
    "huzam": {0: -15.0},
    # hijaz: the augmented second is narrower than 300 cents: Eb high (~112 cents above
    # D), F# low (~386 cents): an augmented second of ~274 cents.
    "hijaz": {1: +12.0, 2: -14.0},
    # nahawand, kurd, ajam, nikriz: played close to equal temperament.
    "nahawand": {},
    "kurd": {},
    "ajam": {},
    "nikriz": {},
}
"""Practice-intonation offsets in cents from the 24-TET degree, per maqam and degree index.

Offsets are measured on the fixed pitch grid, so a tonic offset (sikah's low E-half-flat)
moves every other degree the other way relative to the tonic. Values are typical of
published measurements of Arab (Syrian, Egyptian) oud and violin practice; performers
differ by +-5 to 10 cents, which the corpus adds as jitter.

Used in: book/part1/02_maqam_estimation.md
"""

DESCENDING_QT_DELTA: dict[str, dict[int, int]] = {
    # rast descends from the octave with jins nahawand on G: B-half-flat -> B-flat
    # (the seventh at 1000 cents instead of 1050).
    "rast": {6: -1},
    # nahawand ascends with hijaz on G (Ab B C) and descends with kurd on G (Ab Bb C): the
    # natural minor, the seventh at 1000 cents instead of 1100.
    "nahawand": {6: -2},
}
"""Descending forms: degree index -> change in quarter tones from the ascending degree.

Maqamat absent from this table descend as they ascend: bayati, kurd, hijaz, sikah, ajam,
and saba (whose peculiarity is its octave, see :data:`OCTAVE_CENTS`). A changed degree is
played at its 24-TET position (no practice offset).
"""

OCTAVE_CENTS: dict[str, float] = {
    # saba: the diminished fourth Gb (400 cents) generates a scale that does not close at
    # the octave: the 8th note is D-flat (1100 cents), a diminished octave, not D.
    "saba": 1100.0,
}
"""The note reached an "octave" (the 8th degree) above the tonic, in cents, where it is not 1200.

Used in: book/part1/02_maqam_estimation.md
"""


@dataclass(frozen=True)
class Maqam:
    """One maqam over one octave.

    Attributes:
        name: transliterated name, lower case (``"hijaz"``).
        ajnas: ``(jins name, degree index)`` pairs: the lower jins on the tonic (index 0),
            then the upper jins on the ghammaz.
        steps_qt: the 7 successive steps of the octave, in quarter tones; sum 24.
        degrees_cents: the 7 degrees in cents above the tonic, starting at 0.0, shape (7,).
        ghammaz: degree index of the ghammaz (the note where the upper jins starts).
        tonic_name: the usual tonic on the oud in scientific pitch notation (``"D3"``).
        tonic_hz: that tonic in Hz (12-TET, A4 = 440 Hz; half-flats 50 cents lower).
        alt_tonic_names: other common tonics.
        intonation_cents: practice offsets of the 7 degrees from 24-TET on the fixed pitch
            grid, cents, shape (7,) (:data:`INTONATION_CENTS`).
        descending_cents: the 7 nominal degrees on the way down, cents, shape (7,)
            (:data:`DESCENDING_QT_DELTA`).
        octave_cents: the note reached at the 8th degree, cents above the tonic (1200, or
            1100 for saba).
    """

    name: str
    ajnas: tuple[tuple[str, int], ...]
    steps_qt: tuple[int, ...]
    degrees_cents: tuple[float, ...]
    ghammaz: int
    tonic_name: str
    tonic_hz: float
    alt_tonic_names: tuple[str, ...] = ()
    intonation_cents: tuple[float, ...] = (0.0,) * 7
    descending_cents: tuple[float, ...] = ()
    octave_cents: float = 1200.0

    @property
    def steps_cents(self) -> tuple[float, ...]:
        """The 7 successive steps in cents (sum 1200)."""
        return tuple(QUARTER_TONE_CENTS * s for s in self.steps_qt)

    @property
    def practice_degrees_cents(self) -> tuple[float, ...]:
        """The 7 ascending degrees as played, cents above the played tonic, shape (7,).

        ``degrees_cents[k] + intonation_cents[k] - intonation_cents[0]``.

        Used in: book/part1/02_maqam_estimation.md
        """
        off = self.intonation_cents
        return tuple(d + off[k] - off[0] for k, d in enumerate(self.degrees_cents))

    @property
    def descending_degrees_cents(self) -> tuple[float, ...]:
        """The 7 nominal (24-TET) degrees on the way down, cents above the tonic, shape (7,)."""
        return self.descending_cents or self.degrees_cents

    @property
    def practice_descending_degrees_cents(self) -> tuple[float, ...]:
        """The 7 descending degrees as played, cents above the played tonic, shape (7,).

        A degree that the descent changes is played at its 24-TET position (its ascending
        practice offset belongs to the other note); the others keep their offsets.
        """
        off = self.intonation_cents
        return tuple(d + (off[k] if d == self.degrees_cents[k] else 0.0) - off[0]
                     for k, d in enumerate(self.descending_degrees_cents))

    @property
    def practice_tonic_hz(self) -> float:
        """The usual tonic as played, Hz (``tonic_hz`` moved by the tonic's practice offset)."""
        return float(hz(self.intonation_cents[0], self.tonic_hz))


def cents(f_hz, ref_hz):
    """Interval from ``ref_hz`` to ``f_hz`` in cents: ``1200 * log2(f / ref)``.

    Args:
        f_hz: frequency or array of frequencies in Hz (> 0).
        ref_hz: reference frequency in Hz (> 0), broadcastable against ``f_hz``.

    Returns:
        Cents (float or array of the broadcast shape).

    Used in: book/part1/01_stft_filtering.md
    """
    return 1200.0 * np.log2(np.asarray(f_hz, dtype=float) / np.asarray(ref_hz, dtype=float))


def hz(cents_value, ref_hz):
    """Frequency lying ``cents_value`` cents above ``ref_hz``: ``ref * 2**(cents/1200)``.

    Args:
        cents_value: cents (float or array).
        ref_hz: reference frequency in Hz, broadcastable against ``cents_value``.

    Returns:
        Frequency in Hz (float or array).
    """
    return np.asarray(ref_hz, dtype=float) * 2.0 ** (np.asarray(cents_value, dtype=float) / 1200.0)


def cents_from_12tet(f_hz, a4_hz: float = A4_HZ):
    """Deviation in cents of ``f_hz`` from the nearest 12-TET pitch (in (-50, 50]).

    Args:
        f_hz: frequency or array of frequencies in Hz.
        a4_hz: tuning reference in Hz.

    Returns:
        Deviation in cents, same shape as ``f_hz``.
    """
    c = cents(f_hz, a4_hz)
    return c - 100.0 * np.round(c / 100.0)


def note_hz(name: str, a4_hz: float = A4_HZ) -> float:
    """Frequency of a note name in scientific pitch notation, in Hz (12-TET around A4).

    Accepts ``"C3"``, ``"Bb2"``, ``"F#3"`` and the quarter-tone spellings
    ``"E-half-flat3"`` / ``"F-half-sharp3"``.

    Args:
        name: note name with octave number (C4 is middle C, 261.63 Hz).
        a4_hz: tuning reference in Hz.

    Returns:
        Frequency in Hz.

    Raises:
        ConfigError: the name cannot be parsed.

    Used in: book/part2/07_lstm_tokens.md
    """
    m = re.fullmatch(r"([A-Ga-g])(#|b|-half-flat|-half-sharp)?(-?\d+)", name.strip())
    if m is None:
        raise ConfigError(f"cannot read note name {name!r} (examples: C3, Bb2, F#3, E-half-flat3)")
    letter, accidental, octave = m.group(1).upper(), m.group(2) or "", m.group(3)
    c = NOTE_OFFSETS_CENTS[letter] + ACCIDENTAL_CENTS[accidental] + 1200 * (int(octave) - 4)
    return float(hz(c - 900.0, a4_hz))


def _jins_cents(qt: tuple[int, ...]) -> np.ndarray:
    """Notes of a jins in cents above its first note, shape (len(qt) + 1,)."""
    return QUARTER_TONE_CENTS * np.concatenate([[0], np.cumsum(qt)]).astype(float)


def _build_steps(name: str, spec: _MaqamSpec) -> tuple[int, ...]:
    """The 7 octave steps (quarter tones) of a maqam from its ajnas and link steps.

    Raises:
        ConfigError: ajnas disagree where they overlap, a step is missing or doubly
            given, or the steps do not add up to an octave. (A programming error in the
            tables; it surfaces at import.)
    """
    steps: list[int | None] = [None] * 7
    for jins, start in spec.ajnas:
        for j, q in enumerate(JINS_QT[jins]):
            idx = start + j
            if idx >= 7:  # a jins may reach into the next octave
                break
            if steps[idx] is not None and steps[idx] != q:
                raise ConfigError(f"maqam {name}: jins {jins} on degree {start} disagrees "
                                  f"with step {idx} ({steps[idx]} vs {q} quarter tones)")
            steps[idx] = q
    for idx, q in spec.links:
        if steps[idx] is not None:
            raise ConfigError(f"maqam {name}: link step {idx} is already given by a jins")
        steps[idx] = q
    if any(s is None for s in steps):
        raise ConfigError(f"maqam {name}: steps {[i for i, s in enumerate(steps) if s is None]} undefined")
    if sum(steps) != OCTAVE_QT:  # type: ignore[arg-type]
        raise ConfigError(f"maqam {name}: steps add up to {sum(steps)} quarter tones, not 24")  # type: ignore[arg-type]
    return tuple(int(s) for s in steps)  # type: ignore[arg-type]


def _descending_degrees(name: str, degrees: np.ndarray) -> np.ndarray:
    """The 7 nominal descending degrees, cents, shape (7,), from :data:`DESCENDING_QT_DELTA`.

    Raises:
        ConfigError: a change on the tonic or one that breaks the ascending order (a
            programming error in the table; it surfaces at import).
    """
    out = degrees.copy()
    for k, dq in DESCENDING_QT_DELTA.get(name, {}).items():
        if not 1 <= k <= 6:
            raise ConfigError(f"maqam {name}: descending change on degree {k} (must be 1..6)")
        out[k] += QUARTER_TONE_CENTS * dq
    if np.any(np.diff(out) <= 0) or out[-1] >= 1200:
        raise ConfigError(f"maqam {name}: descending degrees {out.tolist()} are not ascending")
    return out


def _intonation(name: str) -> tuple[float, ...]:
    """The 7 practice offsets of a maqam, cents (0 where :data:`INTONATION_CENTS` gives none)."""
    table = INTONATION_CENTS.get(name, {})
    if any(not 0 <= k <= 6 or abs(v) >= QUARTER_TONE_CENTS for k, v in table.items()):
        raise ConfigError(f"maqam {name}: intonation offsets {table} must be on degrees 0..6 "
                          f"and smaller than a quarter tone")
    return tuple(float(table.get(k, 0.0)) for k in range(7))


def _make_maqam(name: str, spec: _MaqamSpec) -> Maqam:
    steps = _build_steps(name, spec)
    degrees = QUARTER_TONE_CENTS * np.concatenate([[0], np.cumsum(steps[:-1])])
    descending = _descending_degrees(name, degrees)
    octave = float(OCTAVE_CENTS.get(name, 1200.0))
    if not degrees[-1] < octave <= 1200.0:
        raise ConfigError(f"maqam {name}: octave note {octave} cents must lie above the 7th degree")
    return Maqam(name=name, ajnas=spec.ajnas, steps_qt=steps,
                 degrees_cents=tuple(float(d) for d in degrees), ghammaz=spec.ajnas[1][1],
                 tonic_name=spec.tonic_name, tonic_hz=round(note_hz(spec.tonic_name), 2),
                 alt_tonic_names=spec.alt_tonic_names, intonation_cents=_intonation(name),
                 descending_cents=tuple(float(d) for d in descending), octave_cents=octave)


MAQAMAT: dict[str, Maqam] = {name: _make_maqam(name, spec) for name, spec in _SPECS.items()}
"""All known maqamat by name."""


def get_maqam(name: str) -> Maqam:
    """Look a maqam up by name (case and surrounding space ignored).

    Args:
        name: e.g. ``"hijaz"``, ``"Rast"``.

    Returns:
        The :class:`Maqam`.

    Raises:
        ConfigError: unknown name; the message lists the known names.

    Used in: book/part1/01_stft_filtering.md, book/part1/02_maqam_estimation.md,
    book/part2/07_lstm_tokens.md
    """
    key = str(name).strip().lower()
    if key not in MAQAMAT:
        raise ConfigError(f"unknown maqam {name!r}; known maqamat: {', '.join(sorted(MAQAMAT))}")
    return MAQAMAT[key]


def degrees_cents(name: str, practice: bool = True, descending: bool = False) -> np.ndarray:
    """The 7 degrees of a maqam, cents above its tonic.

    Args:
        name: maqam name.
        practice: as played (:data:`INTONATION_CENTS`, relative to the played tonic);
            ``False`` gives the 24-TET theory.
        descending: the descending form (:data:`DESCENDING_QT_DELTA`).

    Returns:
        Cents, shape (7,), starting at 0.0, increasing.

    Raises:
        ConfigError: unknown maqam.
    """
    m = get_maqam(name)
    if descending:
        d = m.practice_descending_degrees_cents if practice else m.descending_degrees_cents
    else:
        d = m.practice_degrees_cents if practice else m.degrees_cents
    return np.asarray(d, dtype=float)


def descending_degrees_cents(name: str, practice: bool = True) -> np.ndarray:
    """The 7 degrees of a maqam's descending form, cents above the tonic, shape (7,).

    Same as :func:`degrees_cents` with ``descending=True``: rast's seventh is B-flat (1000
    cents), nahawand's is the natural-minor seventh (1000 cents, kurd upper jins); every
    other core maqam descends as it ascends.
    """
    return degrees_cents(name, practice=practice, descending=True)


def pitch_classes_cents(name: str, practice: bool = True) -> np.ndarray:
    """Every pitch class a maqam uses (ascending, descending and its octave note), cents.

    Args:
        name: maqam name.
        practice: as played (see :func:`degrees_cents`).

    Returns:
        Sorted unique cents in [0, 1200), shape (P,) with 7 <= P <= 9.
    """
    m = get_maqam(name)
    octave = m.octave_cents - (m.intonation_cents[0] if practice and m.octave_cents != 1200 else 0.0)
    c = np.concatenate([degrees_cents(name, practice), degrees_cents(name, practice, descending=True),
                        [np.mod(octave, 1200.0)]])
    return np.unique(np.round(c, 9))


SCALE_PROFILE_BINS = 24
"""Bins of :func:`scale_profile`: quarter tones (50 cents), as the 24-TET theory."""

SCALE_PROFILE_REF_HZ = 261.6256
"""Pitch class 0 of :func:`scale_profile` (C4; any C: the profile is octave-free)."""


def scale_profile(name: str, tonic_hz: float, n_bins: int = SCALE_PROFILE_BINS,
                  sigma_cents: float = 25.0) -> np.ndarray:
    """The absolute pitch classes of a maqam played on ``tonic_hz``: where its notes fall in the
    octave, whatever the tonic.

    With ``p_i`` the maqam's pitch classes (:func:`pitch_classes_cents`, as played) moved to the
    tonic, ``c_i = (p_i + cents(tonic / C)) mod 1200``, bin ``b`` (centre ``b * 1200 / n_bins``
    cents above C) holds ``max_i exp(-d(b, c_i)^2 / (2 sigma^2))``, ``d`` the circular distance in
    cents. Unlike a maqam label and a tonic given apart, this is the maqam and the tonic at once:
    hijaz on D and hijaz on E put their augmented second on different bins (what a spectrogram
    shows), and a generator told this does not have to learn how the two combine.

    Args:
        name: maqam name.
        tonic_hz: the tonic, Hz (any octave).
        n_bins: bins per octave.
        sigma_cents: width of each note's bump, cents.

    Returns:
        ``(n_bins,)`` float32 in [0, 1], 1 near each of the maqam's pitch classes.

    Raises:
        ConfigError: unknown maqam, a tonic that is not a positive frequency, or ``n_bins`` or
            ``sigma_cents`` not positive.
    """
    if not (np.isfinite(tonic_hz) and tonic_hz > 0):
        raise ConfigError(f"tonic_hz={tonic_hz} must be a positive frequency in Hz")
    if int(n_bins) < 1 or not sigma_cents > 0:
        raise ConfigError(f"n_bins ({n_bins}) and sigma_cents ({sigma_cents}) must be positive")
    pcs = np.mod(pitch_classes_cents(name) + cents(float(tonic_hz), SCALE_PROFILE_REF_HZ), 1200.0)
    centres = np.arange(int(n_bins)) * 1200.0 / int(n_bins)
    d = np.abs(centres[:, None] - pcs[None, :])
    d = np.minimum(d, 1200.0 - d)
    return np.exp(-d ** 2 / (2.0 * float(sigma_cents) ** 2)).max(axis=1).astype(np.float32)


def scale_cents(name: str, octaves_below: int = 0, octaves_above: int = 1,
                practice: bool = False) -> np.ndarray:
    """Degrees of a maqam in cents above the tonic, over several octaves.

    Args:
        name: maqam name.
        octaves_below: octaves to extend below the tonic (>= 0).
        octaves_above: octaves above the tonic (>= 0); the top tonic is included.
        practice: practice intonation (:func:`degrees_cents`) instead of 24-TET.

    Returns:
        Ascending cents, shape ``(7 * (octaves_below + octaves_above) + 1,)``.
    """
    if octaves_below < 0 or octaves_above < 0:
        raise ConfigError(f"octaves_below={octaves_below} and octaves_above={octaves_above} must be >= 0")
    deg = degrees_cents(name, practice=practice)
    octs = np.arange(-octaves_below, octaves_above)
    c = (1200.0 * octs[:, None] + deg[None, :]).ravel()
    return np.append(c, 1200.0 * octaves_above)


def scale_hz(name: str, tonic_hz: float | None = None, octaves_below: int = 0,
             octaves_above: int = 1, practice: bool = False) -> np.ndarray:
    """Degree frequencies of a maqam on a tonic, in Hz.

    Args:
        name: maqam name.
        tonic_hz: tonic in Hz; ``None`` takes the maqam's usual tonic on the oud.
        octaves_below: octaves to extend below the tonic.
        octaves_above: octaves above the tonic; the top tonic is included.
        practice: practice intonation relative to ``tonic_hz`` (:func:`degrees_cents`).

    Returns:
        Ascending frequencies in Hz, shape ``(7 * (octaves_below + octaves_above) + 1,)``.
    """
    if tonic_hz is None:
        tonic_hz = get_maqam(name).tonic_hz
    if not np.isfinite(tonic_hz) or tonic_hz <= 0:
        raise ConfigError(f"tonic_hz={tonic_hz} must be a positive frequency in Hz")
    return hz(scale_cents(name, octaves_below, octaves_above, practice=practice), tonic_hz)


def snap_to_scale(freq_hz, name: str, tonic_hz: float, practice: bool = False):
    """Snap pitches to the nearest pitch class of a maqam on a tonic (octave-equivalent).

    The pitch classes are :func:`pitch_classes_cents` (ascending, descending and octave
    notes), so a rast B-flat snaps to 1000 cents and a saba D-flat to 1100.

    Args:
        freq_hz: pitch or array of pitches, Hz (> 0).
        name: maqam name.
        tonic_hz: tonic, Hz.
        practice: snap to the practice intonation instead of 24-TET.

    Returns:
        ``(snapped_hz, dev_cents)``: the snapped pitches in Hz and ``freq - snapped`` in
        cents, both of ``freq_hz``'s shape.
    """
    pc = pitch_classes_cents(name, practice)
    c = np.asarray(cents(freq_hz, tonic_hz), dtype=float)
    octave = np.floor(c / 1200.0)
    r = c - 1200.0 * octave
    grid = np.concatenate([pc - 1200.0, pc, pc + 1200.0])  # nearest class across the octave edge
    k = np.argmin(np.abs(r[..., None] - grid), axis=-1)
    snapped = 1200.0 * octave + grid[k]
    return hz(snapped, tonic_hz), c - snapped
