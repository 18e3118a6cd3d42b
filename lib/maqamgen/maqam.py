"""Maqamat as scale degrees in cents, built from ajnas (tetrachords and trichords).

Every interval here is a whole number of 24-TET quarter tones (50 cents), the usual
theoretical notation of Arabic music; real performance tunings deviate from it (the
*sikah* neutral third is often lower than 350 cents), which later chapters measure.

A maqam is given as data: its ajnas, each placed on a scale degree, and the "link" steps
that no jins covers. :func:`_build_steps` turns that into the seven steps of one octave and
checks that overlapping ajnas agree and that the steps close the octave (24 quarter tones).

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
    """

    name: str
    ajnas: tuple[tuple[str, int], ...]
    steps_qt: tuple[int, ...]
    degrees_cents: tuple[float, ...]
    ghammaz: int
    tonic_name: str
    tonic_hz: float
    alt_tonic_names: tuple[str, ...] = ()

    @property
    def steps_cents(self) -> tuple[float, ...]:
        """The 7 successive steps in cents (sum 1200)."""
        return tuple(QUARTER_TONE_CENTS * s for s in self.steps_qt)


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

    Used in: book/part1/01_stft_filtering.md
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


def _make_maqam(name: str, spec: _MaqamSpec) -> Maqam:
    steps = _build_steps(name, spec)
    degrees = QUARTER_TONE_CENTS * np.concatenate([[0], np.cumsum(steps[:-1])])
    return Maqam(name=name, ajnas=spec.ajnas, steps_qt=steps,
                 degrees_cents=tuple(float(d) for d in degrees), ghammaz=spec.ajnas[1][1],
                 tonic_name=spec.tonic_name, tonic_hz=round(note_hz(spec.tonic_name), 2),
                 alt_tonic_names=spec.alt_tonic_names)


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

    Used in: book/part1/01_stft_filtering.md
    """
    key = str(name).strip().lower()
    if key not in MAQAMAT:
        raise ConfigError(f"unknown maqam {name!r}; known maqamat: {', '.join(sorted(MAQAMAT))}")
    return MAQAMAT[key]


def scale_cents(name: str, octaves_below: int = 0, octaves_above: int = 1) -> np.ndarray:
    """Degrees of a maqam in cents above the tonic, over several octaves.

    Args:
        name: maqam name.
        octaves_below: octaves to extend below the tonic (>= 0).
        octaves_above: octaves above the tonic (>= 0); the top tonic is included.

    Returns:
        Ascending cents, shape ``(7 * (octaves_below + octaves_above) + 1,)``.
    """
    if octaves_below < 0 or octaves_above < 0:
        raise ConfigError(f"octaves_below={octaves_below} and octaves_above={octaves_above} must be >= 0")
    deg = np.asarray(get_maqam(name).degrees_cents)
    octs = np.arange(-octaves_below, octaves_above)
    c = (1200.0 * octs[:, None] + deg[None, :]).ravel()
    return np.append(c, 1200.0 * octaves_above)


def scale_hz(name: str, tonic_hz: float | None = None, octaves_below: int = 0,
             octaves_above: int = 1) -> np.ndarray:
    """Degree frequencies of a maqam on a tonic, in Hz.

    Args:
        name: maqam name.
        tonic_hz: tonic in Hz; ``None`` takes the maqam's usual tonic on the oud.
        octaves_below: octaves to extend below the tonic.
        octaves_above: octaves above the tonic; the top tonic is included.

    Returns:
        Ascending frequencies in Hz, shape ``(7 * (octaves_below + octaves_above) + 1,)``.

    Used in: book/part1/01_stft_filtering.md
    """
    if tonic_hz is None:
        tonic_hz = get_maqam(name).tonic_hz
    if not np.isfinite(tonic_hz) or tonic_hz <= 0:
        raise ConfigError(f"tonic_hz={tonic_hz} must be a positive frequency in Hz")
    return hz(scale_cents(name, octaves_below, octaves_above), tonic_hz)
