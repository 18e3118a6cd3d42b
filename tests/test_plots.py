"""Figure helpers: live widgets without Output widgets, audio players."""

import ipywidgets as widgets
import numpy as np

from maqamgen import plots


def test_live_figure_redraws_when_a_control_changes():
    calls = []

    def draw(ax, a):
        calls.append(a)
        ax.plot([0, 1], [0, a])

    slider = widgets.FloatSlider(value=1.0, min=0, max=5)
    box = plots.live_figure(draw, a=slider)
    image = box.children[1]
    first = image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and calls == [1.0]
    slider.value = 4.0
    assert calls == [1.0, 4.0] and image.value != first


def test_audio_table_embeds_one_player_per_item():
    y = np.sin(np.arange(8000) * 0.1).astype(np.float32)
    html = plots.audio_table({"a": (y, 8000), "b": (2 * y, 8000)}, captions={"a": "cap"})._repr_html_()
    assert html.count("<audio") == 2 and "data:audio/wav;base64," in html and "cap" in html


def test_dit_diagram_reads_the_config():
    import matplotlib.pyplot as plt

    from maqamgen import plots
    from maqamgen.nets import dit

    for tok in ("time", "patch"):
        cfg = dit.dit_config("tiny", tokenization=tok, input_size=(32, 16), piece_pos=True, cond_dim=2)
        fig, ax = plt.subplots()
        plots.dit_diagram(ax, cfg)
        texts = " ".join(t.get_text() for t in ax.texts)
        assert f"{cfg.depth} x DiT block" in texts and f"width {cfg.d_model}" in texts
        assert ("time tokens" in texts) == (tok == "time") and "start and length" in texts
        plt.close(fig)
