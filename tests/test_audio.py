"""Tests of maqamgen.audio: file I/O and its errors, STFT, theta_alpha, smoothing, resynthesis,
and the Chapter 1 measurements. Short synthetic signals only; the whole file runs in seconds."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from maqamgen import audio as A
from maqamgen.errors import AudioError, ConfigError

SR = 16000


def sine(freq, sr=SR, seconds=0.5, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def harmonic_tone(f0=220.0, sr=SR, seconds=0.5, n_harmonics=8):
    t = np.arange(int(sr * seconds)) / sr
    y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, n_harmonics + 1))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def noise(seconds=0.5, sr=SR, seed=0):
    return (0.3 * np.random.default_rng(seed).standard_normal(int(sr * seconds))).astype(np.float32)


def peak_hz(y, sr):
    freqs, _ = A.dominant_frequencies(y, sr, k=1, fmin=20, fmax=sr / 2 - 20)
    return freqs[0]


def assert_audio_error(excinfo, path, problem):
    message = str(excinfo.value)
    assert os.path.basename(str(path)) in message, message
    assert problem in message, message
    assert "\n" not in message


# ----------------------------------------------------------------------------- I/O


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_round_trip(tmp_path, ext):
    y = harmonic_tone()
    path = A.save_audio(tmp_path / f"tone{ext}", y, SR)
    y2, sr2 = A.load_audio(path)
    assert sr2 == SR and y2.dtype == np.float32 and y2.shape == y.shape
    np.testing.assert_allclose(y2, y, atol=1e-4)  # PCM_16 quantisation


def test_round_trip_float_wav_is_exact(tmp_path):
    y = harmonic_tone()
    y2, _ = A.load_audio(A.save_audio(tmp_path / "t.wav", y, SR, subtype="FLOAT"))
    np.testing.assert_array_equal(y2, y)


def test_ogg_keeps_pitch(tmp_path):
    y2, sr2 = A.load_audio(A.save_audio(tmp_path / "t.ogg", sine(440.0), SR))
    assert sr2 == SR and abs(peak_hz(y2, sr2) - 440.0) < 2.0


def test_resample_44100_to_22050_keeps_440hz(tmp_path):
    path = tmp_path / "a440.wav"
    sf.write(path, sine(440.0, sr=44100), 44100)
    y, sr = A.load_audio(path, sr=22050)
    assert sr == 22050
    assert abs(len(y) - 22050 * 0.5) <= 1
    assert abs(peak_hz(y, sr) - 440.0) < 0.5


def test_stereo_mix_down_and_channels(tmp_path):
    left, right = sine(440.0), sine(660.0, amp=0.25)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y, _ = A.load_audio(path)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)
    both, _ = A.load_audio(path, mono=False)
    assert both.shape == (2, len(left))
    np.testing.assert_allclose(both[1], right, atol=1e-7)


def test_save_creates_parent_dirs_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a" / "b" / "out.wav"
    A.save_audio(path, sine(440.0), SR)
    assert os.listdir(path.parent) == ["out.wav"]


def test_save_nan_raises_and_keeps_old_file(tmp_path):
    path = tmp_path / "keep.wav"
    A.save_audio(path, sine(440.0), SR)
    before = path.read_bytes()
    bad = sine(220.0)
    bad[10] = np.nan
    with pytest.raises(AudioError) as e:
        A.save_audio(path, bad, SR)
    assert_audio_error(e, path, "non-finite")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.wav"]


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    A.save_audio(path, sine(440.0), SR)
    before = path.read_bytes()

    def half_write(file, *args, **kwargs):
        with open(file, "wb") as f:
            f.write(b"RIFF\x00\x00")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sf, "write", half_write)
    with pytest.raises(AudioError) as e:
        A.save_audio(path, sine(220.0), SR)
    assert_audio_error(e, path, "cannot write audio (disk full)")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.wav"]


def test_save_peak_above_one(tmp_path):
    loud = 2 * sine(440.0, amp=1.0)
    with pytest.raises(AudioError) as e:
        A.save_audio(tmp_path / "loud.wav", loud, SR)
    assert_audio_error(e, "loud.wav", "exceeds full scale")
    y, _ = A.load_audio(A.save_audio(tmp_path / "loud.wav", loud, SR, normalize=True))
    assert abs(np.max(np.abs(y)) - A.NORMALIZE_PEAK) < 1e-3


def test_save_unknown_extension(tmp_path):
    with pytest.raises(AudioError) as e:
        A.save_audio(tmp_path / "x.mp3", sine(440.0), SR)
    assert_audio_error(e, "x.mp3", "unsupported audio extension '.mp3'")
    assert not (tmp_path / "x.mp3").exists()


# ----------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "file not found")


def test_directory(tmp_path):
    path = tmp_path / "folder.wav"
    path.mkdir()
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "is a directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "file is empty (0 bytes)")


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "x.wav"
    path.write_text("these are not samples\n")
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "not a readable audio file (")


def test_truncated_header(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, sine(440.0), SR)
    path = tmp_path / "truncated.wav"
    path.write_bytes(good.read_bytes()[:30])
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "not a readable audio file (")


def test_header_without_samples(tmp_path):
    path = tmp_path / "nosamples.wav"
    sf.write(path, np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "audio has no samples")


def test_all_zero_audio(tmp_path):
    path = tmp_path / "zeros.wav"
    sf.write(path, np.zeros(SR // 4, np.float32), SR)
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "audio is silent")
    y, _ = A.load_audio(path, allow_silent=True)
    assert y.shape == (SR // 4,) and not y.any()


def test_nan_samples_in_float_wav(tmp_path):
    path = tmp_path / "nan.wav"
    y = sine(440.0)
    y[[5, 50, 500]] = np.nan
    sf.write(path, y, SR, subtype="FLOAT")
    with pytest.raises(AudioError) as e:
        A.load_audio(path)
    assert_audio_error(e, path, "3 non-finite samples")


def test_wrong_expected_sample_rate(tmp_path):
    path = tmp_path / "rate.wav"
    sf.write(path, sine(440.0, sr=22050), 22050)
    with pytest.raises(AudioError) as e:
        A.load_audio(path, expected_sr=44100)
    assert_audio_error(e, path, "sample rate is 22050 Hz, expected 44100 Hz")
    assert A.load_audio(path, expected_sr=22050)[1] == 22050


def test_check_audio_on_arrays():
    with pytest.raises(AudioError, match=r"^<array>: audio is silent"):
        A.check_audio(np.zeros(100), SR)
    with pytest.raises(AudioError, match="non-finite"):
        A.check_audio(np.array([0.1, np.inf]), SR)
    with pytest.raises(AudioError, match="sample rate"):
        A.check_audio(sine(440.0), 0)
    with pytest.raises(AudioError, match="shape"):
        A.check_audio(np.ones((2, 2, 2)), SR)
    out = A.check_audio([0.5, -0.5], SR, path="mine")
    assert out.dtype == np.float32


# ----------------------------------------------------------------------------- STFT


def test_stft_db_shape_and_1khz_bin():
    y = sine(1000.0)
    F = A.stft_db(y, SR, n_fft=1024, hop_length=256)
    assert F.shape == (513, 1 + len(y) // 256) and F.dtype == np.float32
    assert F.max() == 0.0
    freqs = A.frequencies(SR, 1024)
    assert freqs.shape == (513,)
    peak_bins = np.argmax(F[:, 2:-2], axis=0)
    assert np.all(peak_bins == round(1000 * 1024 / SR))
    assert np.all(np.abs(freqs[peak_bins] - 1000.0) <= SR / 1024 / 2)
    times = A.frame_times(F.shape[1], SR, 256)
    assert times[1] == pytest.approx(256 / SR) and times.shape == (F.shape[1],)


def test_stft_db_top_db_clamp():
    F = A.stft_db(harmonic_tone(), SR, n_fft=512, hop_length=128, top_db=60)
    assert F.min() == pytest.approx(-60.0)


def test_stft_too_short():
    with pytest.raises(AudioError, match="n_fft=2048"):
        A.stft(sine(440.0)[:500])


def test_db_round_trip():
    mag = np.array([1e-3, 0.1, 1.0, 10.0])
    np.testing.assert_allclose(A.db_to_magnitude(A.magnitude_to_db(mag, ref=1.0)), mag, rtol=1e-6)


# ----------------------------------------------------------------------------- theta_alpha


@pytest.fixture(scope="module")
def F_db():
    return A.stft_db(harmonic_tone() + 0.01 * noise(), SR, n_fft=512, hop_length=128)


def test_theta_alpha_keeps_exactly_entries_above_threshold(F_db):
    out = A.theta_alpha(F_db, -30.0)
    keep = F_db >= F_db.max() - 30.0
    np.testing.assert_array_equal(out[keep], F_db[keep])
    assert np.all(out[~keep] == F_db.min())
    np.testing.assert_array_equal(A.theta_alpha_mask(F_db, -30.0), keep)
    assert 0 < keep.mean() < 1


def test_theta_alpha_idempotent_and_floor(F_db):
    once = A.theta_alpha(F_db, -20.0)
    np.testing.assert_array_equal(A.theta_alpha(once, -20.0), once)
    floored = A.theta_alpha(F_db, -20.0, floor_db=-90.0)
    assert floored.min() == -90.0
    np.testing.assert_array_equal(A.theta_alpha(F_db, 0.0) == 0.0, F_db == F_db.max())


@pytest.mark.parametrize("alpha", [10.0, 0.5, float("nan")])
def test_theta_alpha_rejects_bad_alpha(F_db, alpha):
    with pytest.raises(ConfigError, match="alpha_db must be a finite level <= 0"):
        A.theta_alpha(F_db, alpha)


# ----------------------------------------------------------------------------- smoothing


def test_gaussian_smooth_sigma_zero_is_identity(F_db):
    np.testing.assert_array_equal(A.gaussian_smooth(F_db, 0, 0), F_db)


def test_gaussian_smooth_constant_and_noise():
    const = np.full((40, 30), -12.5)
    np.testing.assert_allclose(A.gaussian_smooth(const, 2.0, 3.0), const, atol=1e-5)
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((200, 150)).astype(np.float32)
    smooth = A.gaussian_smooth(Z, 2.0, 2.0)
    assert smooth.var() < 0.1 * Z.var()
    assert abs(smooth.mean() - Z.mean()) < 0.02


def test_gaussian_kernel_matches_filter():
    K = A.gaussian_kernel_2d(sigma_t=1.5, sigma_f=2.5, truncate=3.0)
    assert K.shape == (2 * int(3 * 2.5 + 0.5) + 1, 2 * int(3 * 1.5 + 0.5) + 1)
    assert K.sum() == pytest.approx(1.0)
    delta = np.zeros((41, 41))
    delta[20, 20] = 1.0
    response = A.gaussian_smooth(delta, 1.5, 2.5, domain="db")
    rf, rt = K.shape[0] // 2, K.shape[1] // 2
    np.testing.assert_allclose(response[20 - rf : 21 + rf, 20 - rt : 21 + rt], K, atol=1e-7)
    assert A.gaussian_kernel_2d(0, 0).shape == (1, 1)


def test_gaussian_smooth_magnitude_domain(F_db):
    out = A.gaussian_smooth(F_db, 1.0, 1.0, domain="magnitude")
    assert out.shape == F_db.shape and np.isfinite(out).all()
    assert out.max() <= F_db.max() + 1e-4
    with pytest.raises(ConfigError):
        A.gaussian_smooth(F_db, -1, 1)


# ----------------------------------------------------------------------------- measurements


def test_energy_kept(F_db):
    assert A.energy_kept(F_db, F_db) == pytest.approx(1.0)
    kept = [A.energy_kept(F_db, A.theta_alpha(F_db, a)) for a in (-80, -40, -20, -10, -3, 0)]
    assert all(0 < k <= 1 for k in kept)
    assert all(b <= a + 1e-12 for a, b in zip(kept, kept[1:]))
    assert kept[0] > 0.99 and kept[-1] < kept[1]


def test_harmonic_peaks_kept(F_db):
    assert A.harmonic_peaks_kept(F_db, F_db) == 1.0
    frac, n_kept, n_total = A.harmonic_peaks_kept(F_db, A.theta_alpha(F_db, -6.0), return_counts=True)
    assert n_total > 0 and frac == n_kept / n_total and frac < 1.0
    smeared = A.gaussian_smooth(F_db, 0, 6.0)
    assert A.harmonic_peaks_kept(F_db, smeared) < 0.5


def test_harmonic_peaks_match_per_frame_find_peaks(F_db):
    bins, frames = A._peaks_per_frame(F_db.astype(np.float64), 6.0)
    expected = {
        (int(k), t)
        for t in range(F_db.shape[1])
        for k in signal.find_peaks(F_db[:, t].astype(np.float64), prominence=6.0)[0]
    }
    assert set(zip(bins.tolist(), frames.tolist())) == expected


def test_spectral_flatness_noise_vs_tone():
    kw = dict(n_fft=512, hop_length=256)
    _, flat_noise = A.spectral_flatness(A.stft_db(noise(), SR, **kw))
    per_frame, flat_tone = A.spectral_flatness(A.stft_db(harmonic_tone(), SR, **kw))
    assert per_frame.shape == (1 + int(SR * 0.5) // 256,)
    assert flat_noise > 0.3 and flat_tone < 0.01 and flat_noise > 50 * flat_tone
    S = np.abs(A.stft(noise(), **kw))
    assert A.spectral_flatness(S, is_db=False)[1] == pytest.approx(flat_noise, rel=1e-3)


def test_dominant_frequencies_two_sines():
    y = sine(330.0, amp=0.4) + sine(1250.0, amp=0.2)
    freqs, levels = A.dominant_frequencies(y, SR, k=2, fmin=50, fmax=2000)
    assert freqs[0] == pytest.approx(330.0, abs=0.5)
    assert freqs[1] == pytest.approx(1250.0, abs=0.5)
    assert levels[0] > levels[1]
    f, mag_db = A.global_fft(y, SR)
    assert f.shape == mag_db.shape and mag_db.max() == 0.0


# ----------------------------------------------------------------------------- resynthesis


def test_resynthesize_with_original_phase_is_identity():
    y = harmonic_tone()
    S = A.stft(y, n_fft=512, hop_length=128)
    F = A.magnitude_to_db(S)
    y_hat = A.resynthesize(F, S, hop_length=128, length=len(y))
    assert np.max(np.abs(y_hat - y)) < 1e-3


def test_resynthesize_thresholded_keeps_pitch():
    y = harmonic_tone(f0=220.0)
    S = A.stft(y, n_fft=1024, hop_length=256)
    F_mod = A.gaussian_smooth(A.theta_alpha(A.magnitude_to_db(S), -40.0), 1.0, 0.5)
    y_hat = A.resynthesize(F_mod, S, hop_length=256, length=len(y))
    assert y_hat.shape == y.shape and np.isfinite(y_hat).all()
    assert abs(peak_hz(y_hat, SR) - 220.0) < 1.0


def test_griffin_lim_sine_and_determinism():
    y = sine(700.0)
    S = A.stft(y, n_fft=1024, hop_length=256)
    y1 = A.griffin_lim(np.abs(S), hop_length=256, n_iter=32, seed=3, length=len(y))
    assert y1.shape == y.shape
    # Griffin-Lim recovers the frequency to within a fraction of an STFT bin (15.6 Hz here)
    assert abs(peak_hz(y1, SR) - 700.0) < SR / 1024 / 4
    again = A.griffin_lim(np.abs(S), hop_length=256, n_iter=32, seed=3, length=len(y))
    np.testing.assert_array_equal(y1, again)
    y2 = A.resynthesize(A.magnitude_to_db(S), S, mode="griffinlim", hop_length=256, n_iter=32, seed=3, length=len(y))
    np.testing.assert_allclose(y2, y1, atol=1e-3)
    with pytest.raises(ConfigError):
        A.resynthesize(A.magnitude_to_db(S), S, mode="nope")


@pytest.mark.filterwarnings("ignore:The length of signal is shorter")  # torch's, on the longest length
@pytest.mark.parametrize("n_fft,hop,window", [(1024, 256, "hann"), (1024, 300, "hann"),
                                              (512, 128, "hamming"), (2048, 512, "hann")])
def test_istft_is_torchs(n_fft, hop, window):
    """audio.istft (our overlap-add) gives torch.istft's signal, lengths and refusals."""
    import torch

    y = np.random.default_rng(0).standard_normal(12345).astype(np.float32)
    S = A.stft(y, n_fft=n_fft, hop_length=hop, window=window)
    T = S.shape[1]
    win = torch.from_numpy(A._window(window, n_fft))
    for length in (None, len(y), len(y) - 500, hop * (T - 1) + n_fft // 2 + 37, hop * (T - 1) + n_fft + 100):
        try:
            ref = torch.istft(torch.from_numpy(S.astype(np.complex128)), n_fft, hop, n_fft, win,
                              center=True, length=length).numpy()
        except RuntimeError:  # torch: "window overlap add min" where the envelope vanishes
            with pytest.raises(ValueError, match="not invertible"):
                A.istft(S, hop, window, length)
            continue
        ours = A.istft(S, hop, window, length)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(A.istft(S, hop, window, len(y)), y, atol=1e-5)  # the round trip


def _torchaudio_griffin_lim(mag, n_fft, hop, n_iter, seed, window, length, momentum):
    """torchaudio's Griffin-Lim, the reference :func:`maqamgen.audio.griffin_lim` reimplements."""
    import torch
    import torchaudio

    gl = torchaudio.transforms.GriffinLim(
        n_fft=n_fft, n_iter=n_iter, win_length=n_fft, hop_length=hop, power=1.0, momentum=momentum,
        length=length, rand_init=True,
        window_fn=lambda n, **_: torch.from_numpy(A._window(window, n).astype(np.float32)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return gl(torch.from_numpy(np.asarray(mag, dtype=np.float32))).numpy()


@pytest.mark.parametrize("n_fft,hop,length_offset,momentum,window", [
    (2048, 512, None, 0.99, "hann"),  # the book's latent grid
    (1024, 300, 0, 0.99, "hann"),  # a hop that does not divide n_fft
    (1024, 256, 0, 0.0, "hann"),  # plain Griffin-Lim
    (512, 128, 60, 0.5, "hamming"),  # a length between two hops, another window
    (2048, 1024, None, 0.99, "hann"),  # two frames overlapping
])
def test_griffin_lim_is_torchaudios(n_fft, hop, length_offset, momentum, window):
    """The same algorithm as torchaudio's: after 1 iteration the signals agree to float rounding.

    Each iteration feeds the last one's rounding back (the phase of a near-silent bin turns on
    rounding alone; momentum 0.99 amplifies it), so later the gap is larger and depends on the
    CPU's FFT kernels. Gaps as a share of the peak (2026-12-07): on the book's grid (2048, 512)
    after 12 iterations under 2e-4 on one 2-core machine and 5.3e-4 on an Intel one with AVX-512;
    on an AMD one with AVX-512, 5e-5 after 2 iterations of plain Griffin-Lim (momentum 0), under
    1.6e-6 after 1 in every case. So 1 iteration is held to rounding and 12 bound loosely.
    """
    rng = np.random.default_rng(0)
    t = np.arange(int(0.8 * SR)) / SR
    y = (0.3 * np.sin(2 * np.pi * 220 * t + 3 * np.sin(2 * np.pi * 5 * t))
         + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    mag = np.abs(A.stft(y, n_fft=n_fft, hop_length=hop))
    length = None if length_offset is None else len(y) + length_offset
    for n_iter, tol in ((1, 2e-5), (12, 3e-3)):
        ours = A.griffin_lim(mag, n_fft, hop, n_iter, 3, window, length, momentum)
        ref = _torchaudio_griffin_lim(mag, n_fft, hop, n_iter, 3, window, length, momentum)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, atol=tol * np.abs(ref).max(), rtol=0)


def test_griffin_lim_refuses_what_it_cannot_invert():
    mag = np.abs(A.stft(sine(440.0), n_fft=512, hop_length=128))
    with pytest.raises(ValueError, match="centred frames"):
        A.griffin_lim(mag, hop_length=128, length=128 * (mag.shape[1] + 3))
    with pytest.raises(ValueError, match="momentum"):
        A.griffin_lim(mag, hop_length=128, momentum=1.0)
    with pytest.raises(ValueError, match="not invertible"):  # hop beyond the window: gaps
        A.griffin_lim(mag, hop_length=1024)


def test_mel_round_trip_keeps_pitch():
    y = sine(500.0)
    mel_db = A.mel_spectrogram_db(y, SR, n_fft=512, hop_length=128, n_mels=80)
    assert mel_db.shape == (80, 1 + len(y) // 128)
    y_hat = A.mel_to_audio(mel_db, SR, n_fft=512, hop_length=128, n_mels=80, n_iter=16, length=len(y))
    assert y_hat.shape == y.shape
    assert abs(peak_hz(y_hat, SR) - 500.0) < 10.0
