"""Chapter figures in milestones/plots.py that carry logic of their own."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from milestones import plots  # noqa: E402


def test_token_map_lays_tokens_out_line_by_line_in_character_cells():
    tokens = ["def", " f", "(x", "):\n   ", " return", " x", "\n"]
    right = np.array([True, False, True, True, False, True, False])
    fig = plots.token_map(tokens, right, title="t", start_column=4)
    ax = fig.axes[0]
    texts = [(t.get_text().replace("\u00a0", " "), t.get_position()) for t in ax.texts]
    assert texts == [("def", (4, 0.5)), (" f", (7, 0.5)), ("(x", (9, 0.5)), ("):", (11, 0.5)), ("   ", (0, 1.5)),
                     (" return", (3, 1.5)), (" x", (10, 1.5))]
    cells = [(p.get_x(), p.get_y(), p.get_width()) for p in ax.patches]
    assert (13, 0, 0.6) in cells and (12, 1, 0.6) in cells  # the two newlines, at the ends of their lines
    colours = {(p.get_x(), p.get_y()): p.get_facecolor()[:3] for p in ax.patches}
    assert colours[(7, 0)] != colours[(4, 0)]  # " f" was missed, "def" was not
    assert ax.get_xlim() == (0, 14) and ax.get_ylim() == (2, 0)
    plt.close(fig)
