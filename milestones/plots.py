"""Figures the chapters share: decision boundaries, training curves, image grids, confusion matrices.

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
    fig.tight_layout()
    return fig
