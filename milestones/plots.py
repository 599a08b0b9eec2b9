"""Figures the chapters share: decision boundaries, training curves, digit grids, confusion matrices.

Each function draws on a matplotlib Axes it is given (or a new figure) and takes plain NumPy
arrays or the reader's tensors, so chapters stay short and every figure looks the same.
"""

from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np

from milestones.judge import as_array

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
