"""Figures the chapters share: decision boundaries, training curves, image grids, confusion matrices.

Each function draws on a matplotlib Axes it is given (or a new figure) and takes plain NumPy
arrays or the reader's tensors, so chapters stay short and every figure looks the same.
"""

from __future__ import annotations

from typing import Callable

import matplotlib.artist
import matplotlib.ticker
import matplotlib.pyplot as plt
import numpy as np

from milestones.measure import as_array

CLASS_COLOURS = ("#1f77b4", "#d62728")


def decision_boundary(ax, predict: Callable[[np.ndarray], np.ndarray], points, labels,
                      title: str = "", padding: float = 0.6, resolution: int = 200) -> None:
    """Shade P(class 1) over the plane, draw the 0.5 contour and the labelled points."""
    points, labels = as_array(points), as_array(labels).astype(int)
    low, high = points.min(axis=0) - padding, points.max(axis=0) + padding
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    probability = as_array(predict(grid)).reshape(grid_x.shape)
    ax.contourf(grid_x, grid_y, probability, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    if probability.min() < 0.5 < probability.max():
        ax.contour(grid_x, grid_y, probability, levels=[0.5], colors="k", linewidths=1.5)
    for label, colour in enumerate(CLASS_COLOURS):
        chosen = labels == label
        ax.scatter(points[chosen, 0], points[chosen, 1], s=18, c=colour, edgecolors="white",
                   linewidths=0.4, label=f"class {label}")
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="lower right", fontsize=8)


def curves(history: dict[str, list[float]], keys: tuple[str, ...], ax=None, title: str = "",
           ylabel: str = "") -> None:
    """Plot several per-epoch series of a training history on one Axes."""
    ax = ax or plt.gca()
    for key in keys:
        values = history.get(key) or []
        if values and all(v is not None for v in values):
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()


def confusion_matrix(predicted, truth, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs, computed in NumPy."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (as_array(truth).astype(int), as_array(predicted).astype(int)), 1)
    return matrix


def show_confusion(matrix: np.ndarray, ax=None, title: str = "Confusion matrix") -> None:
    """Draw a confusion matrix with its counts written in the cells."""
    ax = ax or plt.gca()
    ax.imshow(matrix, cmap="Blues")
    n = matrix.shape[0]
    for row in range(n):
        for col in range(n):
            colour = "white" if matrix[row, col] > matrix.max() / 2 else "black"
            ax.text(col, row, str(matrix[row, col]), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)


def image_grid(images, captions: list[str], columns: int = 8, title: str = "", size: float = 1.2,
               cmap: str = "gray_r"):
    """Show images (N, H, W) or (N, 3, H, W) in a grid with a caption under each."""
    images = as_array(images)
    count = len(images)
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * 1.15), squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < count:
            image = images[index]
            if image.ndim == 3:
                image = np.transpose(image, (1, 2, 0))
            ax.imshow(image, cmap=cmap if image.ndim == 2 else None)
            ax.set_title(captions[index], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.subplots_adjust(hspace=0.45)  # tight_layout leaves captions touching the row above
    return fig


def hidden_unit_lines(ax, w1, b1, points, labels, low: float = -0.6, high: float = 1.6) -> None:
    """Input space of a 2-input network: the line each hidden unit draws (w . x + b = 0) and the points."""
    points, labels = as_array(points), as_array(labels).astype(int)
    xs = np.linspace(low, high, 2)
    corners = np.array([[low, low], [low, high], [high, low], [high, high]])
    line_colours = ("tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:olive", "tab:gray")
    for unit, ((a, b), c) in enumerate(zip(w1, b1)):
        label = f"hidden unit {unit + 1}"
        if len(set(np.sign(corners @ np.array([a, b]) + c))) == 1:
            label += " (line outside this view)"
        style = dict(lw=2, ls="--", color=line_colours[unit % len(line_colours)], label=label)
        if abs(b) > 1e-6:   # the line a x1 + b x2 + c = 0, drawn as x2 = -(a x1 + c) / b
            ax.plot(xs, -(a * xs + c) / b, **style)
        else:
            ax.axvline(-c / a, **style)
    for label, colour in enumerate(CLASS_COLOURS):
        chosen = labels == label
        ax.scatter(*points[chosen].T, s=80, c=colour, edgecolors="k", zorder=3, label=f"class {label}")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title("Input space: each hidden unit draws one line")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)


def hidden_space(ax, hidden, logits, w2, points, labels) -> None:
    """The points as the hidden layer re-describes them, seen along the output unit's weights.

    Hidden space, viewed along the output unit's weight vector: the horizontal axis is the output
    logit w2 . h + b2 (its decision boundary is the line logit = 0), the vertical axis is the
    direction in which the 4 hidden vectors spread most, among those orthogonal to w2.
    """
    points, labels = as_array(points), as_array(labels).astype(int)
    direction = w2 / np.linalg.norm(w2)
    rest = hidden - np.outer(hidden @ direction, direction)
    rest -= rest.mean(axis=0)
    spread = np.linalg.svd(rest, full_matrices=False)[2][0]
    across = rest @ spread
    for label, colour in enumerate(CLASS_COLOURS):
        chosen = labels == label
        ax.scatter(logits[chosen], across[chosen], s=80, c=colour, edgecolors="k", zorder=3,
                   label=f"class {label}")
    for point, z, v in zip(points, logits, across):
        ax.annotate(f"({point[0]:.0f}, {point[1]:.0f})", (z, v), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.axvline(0.0, color="k", lw=1.5, label="output unit's boundary")
    ax.set_xlim(-1.3 * abs(logits).max(), 1.3 * abs(logits).max())
    ax.set_ylim(-1.5 * abs(across).max() - 0.1, 1.5 * abs(across).max() + 0.1)
    ax.set_xlabel("output logit $w_2 \\cdot h + b_2$")
    ax.set_ylabel("hidden-space direction orthogonal to $w_2$")
    ax.set_title("Hidden space: the classes are now linearly separable")
    ax.legend(fontsize=8, loc="lower right", framealpha=0.9)


def feature_maps(image, maps: dict[str, np.ndarray], title: str = "", columns: int = 16):
    """One input image, then each stage's feature maps in a row (one colour scale per stage: bright = strong)."""
    image = as_array(image)
    fig, axes = plt.subplots(len(maps) + 1, columns, figsize=(12, 1.2 * (len(maps) + 1)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(image, cmap="gray_r")
    axes[0, 0].set_title(title, fontsize=9, loc="left")
    for row, (name, stack) in enumerate(maps.items(), start=1):
        stack = as_array(stack)
        for channel, fmap in enumerate(stack[:columns]):
            axes[row, channel].imshow(fmap, cmap="viridis", vmin=0, vmax=stack.max())
        axes[row, 0].set_title(f"{name}: {stack.shape[0]} maps of {stack.shape[1]}x{stack.shape[2]}",
                               fontsize=9, loc="left")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.94, bottom=0.01, wspace=0.1, hspace=0.45)
    return fig


def boundary_history(ax, boundaries, points, labels, predict, circled=(), title: str = "") -> None:
    """Every (w, b) line a learning rule went through (grey) over the final boundary, circling some points."""
    points = as_array(points)
    decision_boundary(ax, predict, points, labels, title=title)
    low, high = points.min(axis=0) - 0.6, points.max(axis=0) + 0.6  # the plotted area
    xs = np.array([low[0], high[0]])
    for w, b in boundaries:
        ax.plot(xs, -(w[0] * xs + b) / w[1], color="grey", linewidth=0.6, alpha=0.6)
    circled = np.asarray(circled, dtype=int)
    ax.scatter(points[circled, 0], points[circled, 1], s=200, facecolors="none", edgecolors="k", linewidths=1.5)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])


def lines(ax, x, series: dict[str, list[float]], xlabel: str = "", ylabel: str = "", title: str = "",
          marker: str = "o") -> None:
    """Several named series against one x axis (e.g. accuracy against sparsity, one line per model)."""
    for name, values in series.items():
        ax.plot(x, as_array(values), marker=marker, markersize=4, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()


def smooth(values, window: int = 20) -> np.ndarray:
    """Running mean over the last ``window`` values (shorter at the start), for noisy per-step losses."""
    values = np.asarray(values, dtype=np.float64)
    totals = np.cumsum(values)
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    shifted = np.concatenate((np.zeros(window), totals))[: len(values)]
    return (totals - shifted) / counts


def step_curves(histories: dict[str, list[float]], ax=None, title: str = "", ylabel: str = "loss",
                window: int = 20, log: bool = True) -> None:
    """Per-step training curves (one line per name), smoothed over ``window`` steps."""
    ax = ax or plt.gca()
    for name, values in histories.items():
        ax.plot(np.arange(1, len(values) + 1), smooth(values, window), label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()


def agreement(ax, reference, other, title: str = "", xlabel: str = "float32 logit",
              ylabel: str = "int8 logit") -> None:
    """Scatter one model's outputs against another's, with the line y = x they should lie on."""
    reference, other = as_array(reference).ravel(), as_array(other).ravel()
    ax.scatter(reference, other, s=4, alpha=0.4)
    low, high = min(reference.min(), other.min()), max(reference.max(), other.max())
    ax.plot([low, high], [low, high], color="k", lw=1, ls="--", label="y = x")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def most_confused(matrix: np.ndarray, count: int = 3) -> list[tuple[int, int, int]]:
    """The ``count`` largest off-diagonal cells of a confusion matrix: (true, predicted, how many)."""
    off = matrix.copy()
    np.fill_diagonal(off, -1)
    order = np.argsort(off, axis=None)[::-1][:count]
    return [(int(t), int(p), int(off[t, p])) for t, p in zip(*np.unravel_index(order, off.shape))]


def confused_examples(images, predicted, truth, pairs, classes, per_pair: int = 8, size: float = 1.2):
    """One row per (true, predicted) pair: test images of the first class the model took for the second."""
    images, predicted, truth = as_array(images), as_array(predicted), as_array(truth)
    fig, axes = plt.subplots(len(pairs), per_pair, figsize=(per_pair * size, len(pairs) * size * 1.15),
                             squeeze=False)
    for row, (true, said, _) in enumerate(pairs):
        chosen = np.flatnonzero((truth == true) & (predicted == said))
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col < len(chosen):
                ax.imshow(images[chosen[col]], cmap="gray_r")
        axes[row, 0].set_title(f"{classes[true]} taken for {classes[said]} ({len(chosen)} times)",
                               fontsize=9, loc="left")


def attention_maps(weights, queries: list[str], keys: list[str], titles: list[str], suptitle: str = "",
                   columns: int | None = None, size: float = 2.6, vmax: float | None = 1.0):
    """Heatmaps of attention weights, one panel per (queries x keys) matrix, tokens on the axes.

    ``weights`` is (panels, len(queries), len(keys)): row i shows how query token i spreads
    its attention (which sums to 1) over the keys. Bright = much weight.
    """
    weights = as_array(weights)
    panels = len(weights)
    columns = columns or panels
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * len(queries) / max(len(keys), 1)
                                                     + 0.6 * rows), squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        if index >= panels:
            ax.axis("off")
            continue
        ax.imshow(weights[index], cmap="viridis", vmin=0, vmax=vmax, aspect="equal")
        ax.set_xticks(range(len(keys)), keys, fontsize=7, rotation=90 if max(map(len, keys)) > 1 else 0)
        ax.set_yticks(range(len(queries)), queries, fontsize=7)
        ax.set_title(titles[index], fontsize=9)
        ax.tick_params(length=0)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def step_times(axes, seconds: dict[str, np.ndarray], first_position: int = 1) -> None:
    """Generation timed step by step: ms per new token against the sequence length it reads (left),
    and the running total (right), one line per variant (e.g. with and without a KV cache)."""
    left, right = axes
    for name, values in seconds.items():
        values = np.asarray(values, dtype=np.float64)
        positions = np.arange(first_position, first_position + len(values))
        left.plot(positions, values * 1e3, lw=1, label=name)
        right.plot(positions, np.cumsum(values), lw=1.5, label=name)
    left.set_xlabel("tokens in the sequence at this step")
    left.set_ylabel("ms for this step")
    left.set_title("Time per new token")
    right.set_xlabel("tokens in the sequence")
    right.set_ylabel("seconds so far")
    right.set_title("Total generation time")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()


def op_breakdown(ax, names: list[str], forward_ms, backward_ms, title: str = "") -> None:
    """Horizontal stacked bars: each op's forward and backward milliseconds, slowest at the top."""
    forward_ms, backward_ms = np.asarray(forward_ms, dtype=float), np.asarray(backward_ms, dtype=float)
    rows = np.arange(len(names))[::-1]
    ax.barh(rows, forward_ms, color="#1f77b4", label="forward")
    ax.barh(rows, backward_ms, left=forward_ms, color="#ff7f0e", label="backward")
    ax.set_yticks(rows, names, fontsize=8)
    ax.set_xlabel("ms per training step")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")


def achieved_rates(ax, names: list[str], gflops, peak: float, sizes, size_gflops, title: str = "") -> None:
    """Achieved GFLOP/s: square matmuls by size (a line, bottom axis) and each op of the step
    (horizontal lines, labelled), against the machine's measured peak (dashed)."""
    ax.plot(sizes, size_gflops, marker="o", color="k", lw=1, label="n x n matmul")
    ax.set_xscale("log", base=2)
    ax.axhline(peak, color="k", ls="--", lw=1, label=f"peak {peak:.0f} GFLOP/s")
    for i, (name, rate) in enumerate(zip(names, gflops)):
        ax.axhline(rate, color=f"C{i + 1}", lw=1.5, label=f"{name}: {rate:.0f}")
    ax.set_xlabel("matrix size n (n x n times n x n)")
    ax.set_ylabel("GFLOP/s")
    ax.set_ylim(0, peak * 1.15)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def bars(ax, names: list[str], values, xlabel: str = "", title: str = "", log: bool = False,
         fmt: str = "{:,.0f}") -> None:
    """Horizontal bars, the first name at the top, each labelled with its value."""
    values = np.asarray(values, dtype=float)
    rows = np.arange(len(names))[::-1]
    ax.barh(rows, values, color=[f"C{i}" for i in range(len(names))])
    for row, value in zip(rows, values):
        ax.text(value, row, " " + fmt.format(value), va="center", fontsize=8)
    ax.set_yticks(rows, names, fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(right=values.max() * (4 if log else 1.25))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)


def token_map(tokens: list[str], correct, title: str = "", fontsize: float = 8.0, start_column: int = 0):
    """Text drawn token by token, each on a green (predicted right) or red (missed) background.

    ``tokens`` are the decoded pieces of a text in order (joined, they give the text back);
    ``correct[i]`` says whether the model's argmax predicted token i. A token that ends a
    line is marked by a small cell after the line's last character. ``start_column`` is the
    column the first token starts at (when the piece begins inside a line).
    """
    correct = np.asarray(as_array(correct), dtype=bool)
    cells, row, col = [], 0, start_column  # (row, column, text, right)
    for text, right in zip(tokens, correct):
        for k, part in enumerate(text.split("\n")):
            if k > 0:
                cells.append((row, col, None, right))  # the newline itself
                row, col = row + 1, 0
            if part:
                cells.append((row, col, part, right))
                col += len(part)
    columns = max((c + (len(t) if t else 1) for _, c, t, _ in cells), default=1)
    rows = max((r for r, _, _, _ in cells), default=0) + 1  # a final newline opens no empty row
    char_inches, line_inches, margin, top = fontsize * 0.602 / 72, fontsize * 1.5 / 72, 0.1, 0.35 if title else 0.1
    width = max(columns, len(title) * (fontsize + 1) / fontsize) * char_inches + 2 * margin  # room for the title
    height = rows * line_inches + margin + top
    fig = plt.figure(figsize=(width, height))  # one data unit = one monospace character: the cells line up
    ax = fig.add_axes((margin / width, margin / height, columns * char_inches / width,
                       rows * line_inches / height))
    for r, c, text, right in cells:
        colour = "#b7e4b0" if right else "#f4b6b6"
        ax.add_patch(plt.Rectangle((c, r), len(text) if text else 0.6, 1, color=colour, lw=0))
        if text:
            ax.text(c, r + 0.5, text.replace(" ", "\u00a0"), family="monospace", fontsize=fontsize, va="center",
                    ha="left")
    ax.set_xlim(0, columns)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=fontsize + 1, loc="left")
    return fig


# ---------------------------------------------------------------- Pareto plots

# Where a point's label may go, in points from the point: beside it first, then above or below,
# then the same further out (joined to its point by a thin line).
_LABEL_SPOTS = [(dx * ring, dy * ring, ha, va) for ring in (1, 2, 3) for dx, dy, ha, va in (
    (11, 0, "left", "center"), (-11, 0, "right", "center"), (8, 8, "left", "bottom"), (8, -8, "left", "top"),
    (-8, 8, "right", "bottom"), (-8, -8, "right", "top"), (0, 11, "center", "bottom"), (0, -11, "center", "top"))]


def _overlap(a, b) -> float:
    """The area two display boxes share (0 when they are apart)."""
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


class PointLabels(matplotlib.artist.Artist):
    """Labels of scattered points, placed each time the figure is drawn (so after any later change
    of limits or layout) where they overlap no other label, no marker, no legend and stay inside
    the axes: for each label, in turn, the first free spot of :data:`_LABEL_SPOTS`, else the spot
    that overlaps least."""

    zorder = 0  # drawn before the labels themselves, which it moves

    def __init__(self, ax, xy, names, marker_points: float, **text):
        super().__init__()
        self.ax, self.xy, self.marker_points = ax, np.asarray(xy, dtype=float), marker_points
        self.labels = [ax.annotate(str(name), tuple(p), textcoords="offset points", xytext=_LABEL_SPOTS[0][:2],
                                   ha="left", va="center", arrowprops=dict(arrowstyle="-", lw=0.5, color="0.4",
                                                                           shrinkA=0, shrinkB=4), **text)
                       for name, p in zip(names, self.xy)]
        ax.add_artist(self)

    def _obstacles(self, renderer) -> list:
        from matplotlib.transforms import Bbox

        radius = renderer.points_to_pixels(self.marker_points)
        centres = self.ax.transData.transform(self.xy)
        boxes = [Bbox.from_extents(x - radius, y - radius, x + radius, y + radius) for x, y in centres]
        legend = self.ax.get_legend()
        return boxes + ([legend.get_window_extent(renderer)] if legend else [])

    def draw(self, renderer) -> None:
        from matplotlib.text import Text

        frame, placed = self.ax.get_window_extent(renderer), self._obstacles(renderer)
        for label in self.labels:
            best = None
            for number, spot in enumerate(_LABEL_SPOTS):
                self._put(label, number, renderer)
                box = Text.get_window_extent(label, renderer)  # the text alone, not its line
                outside = box.width * box.height - _overlap(box, frame)
                cost = sum(_overlap(box, other) for other in placed) + 10 * outside
                if best is None or cost < best[0]:
                    best = (cost, number, box)
                if cost == 0:
                    break
            self._put(label, best[1], renderer)
            placed.append(best[2])

    @staticmethod
    def _put(label, number: int, renderer) -> None:
        dx, dy, ha, va = _LABEL_SPOTS[number]
        label.xyann = (dx, dy)
        label.set_horizontalalignment(ha)
        label.set_verticalalignment(va)
        label.arrow_patch.set_visible(number >= 8)  # a line to its point only when the label stands off
        label.update_positions(renderer)


def compact_number(value: float, _position=None) -> str:
    """A tick label a reader takes in at a glance: 500, 2k, 20k, 1.5M, 0.02."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


class ReadableLogLocator(matplotlib.ticker.Locator):
    """Log-axis ticks a reader can tell apart: over a wide span one decade in every few (six ticks at
    most); over two decades or so, 1, 2 and 5 of each; over less, each whole mantissa, and over a
    sliver of a decade, plain even steps."""

    def __call__(self):
        low, high = sorted(self.axis.get_view_interval())
        return self.tick_values(low, high)

    def tick_values(self, low, high):
        if not 0 < low < high:
            return []
        decades = np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
        wide = np.log10(high / low) > 2.5
        if wide:
            decades = decades[10.0 ** decades >= low]
            decades = decades[::int(np.ceil(len(decades) / 6))]
        for mantissas in ((1,),) if wide else ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
            ticks = [m * 10.0 ** d for d in decades for m in mantissas if low <= m * 10.0 ** d <= high]
            if len(ticks) >= 3:
                return ticks
        return ticks if len(ticks) >= 2 else list(matplotlib.ticker.MaxNLocator(4).tick_values(low, high))


def log_axis(axis) -> None:
    """A log scale labelled in compact numbers (``2k``, ``50k``) at ticks that never crowd
    (:class:`ReadableLogLocator`); minor ticks stay, unlabelled."""
    axis.set_major_locator(ReadableLogLocator())
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(compact_number))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def pareto(points: list[dict], x: str = "bytes", y: str = "accuracy", colour: str | None = "latency",
           maximize: tuple[str, ...] = ("accuracy",), minimize: tuple[str, ...] = ("latency", "bytes"),
           ax=None, title: str = "", xlabel: str | None = None, ylabel: str | None = None,
           colour_label: str | None = None):
    """``y`` against ``x`` (log x), coloured by ``colour``; the Pareto-optimal points (the reader's
    ``tinytorch.perf.benchmarking.pareto_frontier``) ringed; every point labelled with its name
    where the label overlaps nothing (:class:`PointLabels`)."""
    from tinytorch.perf.benchmarking import pareto_frontier

    ax = ax or plt.gca()
    front = {id(p) for p in pareto_frontier(points, maximize, minimize)}
    xs = np.array([p[x] for p in points], dtype=float)
    ys = np.array([p[y] for p in points], dtype=float)
    colours = np.array([p[colour] for p in points], dtype=float) if colour else None
    scatter = ax.scatter(xs, ys, c=colours, cmap="viridis", s=60, zorder=3, edgecolors="k", linewidths=0.5)
    on_front = np.array([id(p) in front for p in points])
    ax.scatter(xs[on_front], ys[on_front], s=180, facecolors="none", edgecolors="tab:red", linewidths=1.5,
               zorder=2, label="Pareto-optimal")
    if colour:
        ax.figure.colorbar(scatter, ax=ax, label=colour_label or colour)
    ax.set_xscale("log")
    log_axis(ax.xaxis)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    PointLabels(ax, np.column_stack([xs, ys]), [p.get("name", "") for p in points], marker_points=8, fontsize=8)
    return ax
