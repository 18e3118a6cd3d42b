"""maqamgen.nets.vocoder: lengths, features, the multi-resolution STFT loss, determinism, the shared
training loop, bad input, and that a tiny vocoder learns one oud note."""

import numpy as np
import pytest
import torch

from maqamgen.config import TrainConfig
from maqamgen.errors import ConfigError
from maqamgen.nets import count_parameters
from maqamgen.nets.vocoder import (VOCODER_PRESETS, Vocoder, VocoderConfig, multi_resolution_stft_loss,
                                   vocoder_batch, vocoder_config, vocoder_loss)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SR = 22050


@pytest.fixture(scope="module")
def note():
    """0.51 s of one synthesized oud note (a neutral second above G3), ``(1, 11264)``."""
    from maqamgen import synth

    y = synth.render([synth.note_at_cents(0.0, 0.45, 150.0, 196.0)], sr=SR, seed=0)[:11264]
    return torch.from_numpy(y)[None]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Vocoder(vocoder_config("tiny"))


@pytest.mark.parametrize("preset,frames", [("tiny", 1), ("tiny", 17), ("book", 40)])
def test_output_length_is_hop_times_frames(preset, frames):
    torch.manual_seed(0)
    cfg = vocoder_config(preset)
    voc = Vocoder(cfg)
    with torch.no_grad():
        y = voc(torch.rand(2, cfg.n_mels, frames) * 2 - 1)
        assert y.shape == (2, frames * cfg.hop_length)
        assert voc(torch.rand(1, 1, cfg.n_mels, frames)).shape == (1, frames * cfg.hop_length)  # AE output
    assert torch.isfinite(y).all()


def test_features_are_the_books_normalised_log_mel(tiny, note):
    from maqamgen import audio

    cfg = vocoder_config("book", top_db=35.0, range_db=70.0)
    voc = Vocoder(cfg)
    y = note[0].numpy()
    x = voc.features(note)
    assert x.shape == (1, 64, len(y) // 512)
    db = audio.mel_spectrogram_db(y, SR, n_fft=2048, hop_length=512, n_mels=64, f_min=50.0, f_max=1500.0)
    ref = 2 * (np.clip(db, -35.0, 35.0) + 35.0) / 70.0 - 1
    assert np.allclose(x[0].numpy(), ref[:, : x.shape[-1]], atol=1e-4)
    # N = T hop samples give T frames, and the vocoder gives back N samples
    feats, target = vocoder_batch(tiny, note)
    assert tiny(feats).shape == target.shape == (1, (11264 // 256) * 256)


def test_presets_sizes():
    assert set(VOCODER_PRESETS) == {"tiny", "book", "full"}
    counts = {p: count_parameters(Vocoder(vocoder_config(p))) for p in ("tiny", "book")}
    assert counts["tiny"] < 1e5 < counts["book"] < 2e6
    with torch.device("meta"):
        full = Vocoder(vocoder_config("full"))
    assert 1e7 < count_parameters(full) < 2e7  # Vocos's backbone size


def test_loss_is_zero_for_identical_signals_and_positive_otherwise(note):
    assert multi_resolution_stft_loss(note, note.clone()).item() == 0.0
    assert multi_resolution_stft_loss(note[0], note[0]).item() == 0.0  # (N,) works too
    assert multi_resolution_stft_loss(0.5 * note, note).item() > 0.1
    # -60 dB white noise on clean audio: the log-magnitude term pays for every near-silent bin
    # at the default floor, much less once the floor is raised above the noise
    noisy = note + 1e-3 * torch.randn(note.shape, generator=torch.Generator().manual_seed(0))
    half = multi_resolution_stft_loss(0.5 * note, note).item()
    assert multi_resolution_stft_loss(noisy, note).item() > half
    assert 0 < multi_resolution_stft_loss(noisy, note, power_floor=1e-2).item() < 0.2 * half
    shifted = torch.roll(note, 100, dims=-1)
    assert multi_resolution_stft_loss(shifted, note).item() > 0
    assert multi_resolution_stft_loss(note, note, ((256, 64),)).item() == 0.0


def test_tiny_vocoder_learns_one_note(note):
    torch.manual_seed(0)
    voc = Vocoder(vocoder_config("tiny"))
    opt = torch.optim.Adam(voc.parameters(), lr=5e-3)
    losses = []
    for _ in range(100):
        loss = vocoder_loss(voc, note)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_deterministic_under_a_seed(note):
    def run():
        torch.manual_seed(5)
        voc = Vocoder(vocoder_config("tiny"))
        opt = torch.optim.Adam(voc.parameters(), lr=1e-3)
        for _ in range(3):
            loss = vocoder_loss(voc, note)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return voc.state_dict(), voc(voc.features(note))

    (sa, ya), (sb, yb) = run(), run()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(ya, yb)


def test_batches_of_pairs_and_dicts_and_the_shared_loop(tiny, note, tmp_path):
    from maqamgen.train import train

    feats = tiny.features(note)
    a = vocoder_loss(tiny, note)
    assert torch.equal(vocoder_loss(tiny, (feats, note)), a)  # audio is cut to T hop samples
    assert torch.equal(vocoder_loss(tiny, {"features": feats[:, None], "audio": note[:, None]}), a)
    cfg = TrainConfig(steps=2, batch_size=2, lr=1e-3, ema_decay=None, progress=False, device="cpu",
                      ckpt_every=2)
    clips = torch.cat([note[:, :4096], note[:, 4096:8192]])  # rows of audio are a dataset
    res = train(Vocoder(vocoder_config("tiny")), clips, vocoder_loss, cfg, tmp_path / "voc")
    assert len(res.losses) == 2 and all(np.isfinite(v) for _, v in res.losses)


def test_bad_input_says_what_is_wrong(tiny, note):
    with pytest.raises(ConfigError, match=r"shapes must match"):
        multi_resolution_stft_loss(note[:, :-1], note)
    with pytest.raises(ConfigError, match=r"600 samples are too short for STFT size\(s\) \[2048\]"):
        multi_resolution_stft_loss(note[:, :600], note[:, :600])
    with pytest.raises(ConfigError, match=r"\(n_fft, hop_length\) with 0 < hop_length <= n_fft"):
        multi_resolution_stft_loss(note, note, ((256, 512),))
    with pytest.raises(ConfigError, match=r"expected \(B, 32, T\)"):
        tiny(torch.zeros(1, 64, 10))
    with pytest.raises(ConfigError, match=r"10 frames need 2560 samples"):
        vocoder_loss(tiny, (torch.zeros(1, 32, 10), torch.zeros(1, 1000)))
    with pytest.raises(ConfigError, match="too short for the vocoder's features"):
        tiny.features(torch.zeros(1, 100))
    with pytest.raises(ConfigError, match="n_fft=512 must be even and >= 2 \\* hop_length"):
        VocoderConfig(hop_length=512, n_fft=512)
    with pytest.raises(ConfigError, match="unknown vocoder preset 'huge'; known: tiny, book, full"):
        vocoder_config("huge")
    with pytest.raises(ConfigError, match=r"unknown VocoderConfig field\(s\) \['layers'\]"):
        vocoder_config("tiny", layers=3)
    with pytest.raises(ConfigError, match="band edges"):
        vocoder_config("tiny", f_min=2000.0, f_max=1000.0)
