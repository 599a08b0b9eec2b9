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


# ---------------------------------------------------------------- Pareto plot: nothing written over anything

MLP_VARIANTS = [dict(name="float32", bytes=38440, accuracy=0.970, latency=0.15),
                dict(name="int8", bytes=10500, accuracy=0.970, latency=2.0),
                dict(name="pruned 50%", bytes=38440, accuracy=0.965, latency=0.2),
                dict(name="pruned+int8+sparse", bytes=7040, accuracy=0.965, latency=1.4)]
CNN_VARIANTS = [dict(name="float32", bytes=6360, accuracy=0.970, latency=0.9),
                dict(name="int8", bytes=1800, accuracy=0.975, latency=7.2),
                dict(name="pruned 50%", bytes=6360, accuracy=0.975, latency=1.0),
                dict(name="pruned+int8+sparse", bytes=1254, accuracy=0.975, latency=7.5)]


def overlaps(a, b) -> bool:
    return min(a.x1, b.x1) > max(a.x0, b.x0) and min(a.y1, b.y1) > max(a.y0, b.y0)


def drawn_text(fig, ax):
    """(point labels, their points, x tick labels) as rendered: display boxes, after a full draw."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text()]
    boxes = [Text.get_window_extent(t, renderer) for t in labels]
    points = ax.transData.transform([t.xy for t in labels])
    low, high = sorted(ax.get_xlim())
    ticks = [t.get_window_extent(renderer) for t in ax.xaxis.get_ticklabels(which="both")
             if t.get_visible() and t.get_text() and low <= t.get_position()[0] <= high]
    return boxes, points, ticks, renderer


def assert_nothing_collides(fig, ax, marker_radius_points: float = 6.5):
    boxes, points, ticks, renderer = drawn_text(fig, ax)
    frame = ax.get_window_extent(renderer)
    radius = renderer.points_to_pixels(marker_radius_points)
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, (
            f"label {ax.texts[i].get_text()!r} leaves the axes")
        for j, other in enumerate(boxes[:i]):
            assert not overlaps(box, other), f"labels {ax.texts[j].get_text()!r} and {ax.texts[i].get_text()!r} overlap"
        for x, y in points:  # no label is written over a point (its own included)
            nearest_x, nearest_y = min(max(x, box.x0), box.x1), min(max(y, box.y0), box.y1)
            assert np.hypot(nearest_x - x, nearest_y - y) >= radius, f"label {ax.texts[i].get_text()!r} covers a point"
    assert len(ticks) >= 3, "the log axis has too few labelled ticks to be read"
    for i, tick in enumerate(ticks):
        assert not any(overlaps(tick, other) for other in ticks[:i]), "x tick labels collide"


def test_pareto_labels_and_log_ticks_do_not_collide_in_chapter_06s_figure():
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))  # as chapter 06 draws it, margins and layout after
    for ax, variants in zip(axes, (MLP_VARIANTS, CNN_VARIANTS)):
        plots.pareto(variants, x="bytes", y="accuracy", colour="latency", ax=ax, title="variants",
                     xlabel="stored bytes (log scale)", ylabel="test accuracy", colour_label="latency (ms, median)")
        ax.margins(x=0.3, y=0.2)
    fig.tight_layout()
    for ax, variants in zip(axes, (MLP_VARIANTS, CNN_VARIANTS)):
        assert sorted(t.get_text() for t in ax.texts) == sorted(v["name"] for v in variants)
        assert_nothing_collides(fig, ax)
    plt.close(fig)


def test_pareto_labels_of_a_crowded_cluster_and_ticks_of_a_wide_range_stay_apart():
    rng = np.random.default_rng(0)
    names = ["baseline float32", "int8 per-channel", "int8 per-tensor", "pruned 30%", "pruned 60% structured",
             "distilled", "pruned+int8+sparse"]
    variants = [dict(name=n, bytes=float(b), accuracy=float(a), latency=float(t)) for n, b, a, t in
                zip(names, 10 ** rng.uniform(3.0, 3.3, len(names)), rng.uniform(0.90, 0.92, len(names)),
                    rng.uniform(1, 5, len(names)))]
    variants += [dict(name="tiny", bytes=120.0, accuracy=0.5, latency=0.1),
                 dict(name="huge", bytes=3e7, accuracy=0.99, latency=90.0)]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plots.pareto(variants, ax=ax)
    ax.margins(x=0.2, y=0.15)
    fig.tight_layout()
    assert_nothing_collides(fig, ax)
    plt.close(fig)


def test_compact_numbers_label_log_ticks_at_a_glance():
    assert [plots.compact_number(v) for v in (0.02, 500, 2000, 50000, 1.5e6, 3e9)] == [
        "0.02", "500", "2k", "50k", "1.5M", "3G"]
