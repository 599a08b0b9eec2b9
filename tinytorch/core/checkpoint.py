"""Checkpoints (module 07): a training run stored in a plain ``.npz`` file (no pickle), resumable bit for bit."""

import copy
import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint"]

_FORMAT = "tinytorch-checkpoint-1"
_META = "__meta__"


def save_checkpoint(path, model, optimizer=None, epoch=None, **extra):
    """Write model parameters, optimizer state and extras to ``path`` as ``.npz`` (no pickle).

    Arrays are stored as arrays (``model/<name>``, ``optim/<i>/<key>``, ``extra/<key>``);
    scalars (hyperparameters, step counts, epoch, non-array extras) go in one JSON string.
    Extras must be arrays or JSON-serializable. The file is written to a temporary name
    and renamed, so an interrupted save never leaves a half-written checkpoint at ``path``.
    """
    arrays = {f"model/{k}": np.asarray(v) for k, v in model.state_dict().items()}
    meta = {"format": _FORMAT, "epoch": epoch, "extra": {}, "optimizer": None}
    if optimizer is not None:
        meta["optimizer"] = _encode_optimizer(optimizer, arrays)
    for key, value in extra.items():
        if isinstance(value, np.ndarray):
            arrays[f"extra/{key}"] = value
        else:
            meta["extra"][key] = value
    try:
        arrays[_META] = np.array(json.dumps(meta))
    except TypeError as e:
        raise TypeError(f"checkpoint extras must be arrays or JSON-serializable: {e}") from None
    _atomic_savez(path, arrays)


def _encode_optimizer(optimizer, arrays):
    """Put optimizer state arrays into ``arrays``; return the scalar part as JSON-able data."""
    sd = optimizer.state_dict()
    scalars = {}
    for i, state in sd["state"].items():
        scalars[str(i)] = {}
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                arrays[f"optim/{i}/{k}"] = v
            else:
                scalars[str(i)][k] = v
    hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in sd["hyper"].items()}
    return {"class": type(optimizer).__name__, "hyper": hyper, "state": scalars}


def _atomic_savez(path, arrays):
    """``np.savez`` to exactly ``path`` (no ``.npz`` appended), via a temp file and rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ckpt-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path, model, optimizer=None):
    """Restore a checkpoint written by :func:`save_checkpoint`; return ``{"epoch": ..., **extra}``.

    Raises FileNotFoundError for a missing file and ValueError for a corrupt file, missing or
    unexpected parameter names, shape mismatches, or an optimizer of another class. Nothing
    is modified unless every check passes.
    """
    arrays, meta = _read_checkpoint(path)
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    _check_model_state(path, model, model_state)
    optim_state = None
    if optimizer is not None:
        optim_state = _decode_optimizer(path, optimizer, meta.get("optimizer"), arrays)
    model.load_state_dict(model_state)
    if optim_state is not None:
        optimizer.load_state_dict(optim_state)
    extras = dict(meta["extra"])
    extras.update({k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")})
    return {"epoch": meta["epoch"], **extras}


def _read_checkpoint(path):
    """Read every array and the JSON metadata, turning low-level failures into clear errors."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop(_META)))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable tinytorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a tinytorch checkpoint (format {meta.get('format')!r})")
    return arrays, meta


def _check_model_state(path, model, saved):
    """Raise ValueError listing missing/unexpected names and shape mismatches."""
    expected = {k: np.shape(v) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    wrong = [f"{k}: checkpoint {saved[k].shape} vs model {expected[k]}"
             for k in expected if k in saved and saved[k].shape != expected[k]]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if wrong:
        problems.append("shape mismatch " + "; ".join(wrong))
    if problems:
        raise ValueError(f"checkpoint {path} does not match the model: " + ", ".join(problems))


def _decode_optimizer(path, optimizer, meta, arrays):
    """Rebuild an optimizer ``state_dict`` from the JSON scalars and ``optim/<i>/<key>`` arrays."""
    name = type(optimizer).__name__
    if meta is None:
        raise ValueError(f"checkpoint {path} has no optimizer state to load into {name}")
    if meta["class"] != name:
        raise ValueError(f"checkpoint {path} holds {meta['class']} state, cannot load into {name}")
    state = {int(i): dict(s) for i, s in meta["state"].items()}
    for key, value in arrays.items():
        if key.startswith("optim/"):
            _, i, k = key.split("/", 2)
            state.setdefault(int(i), {})[k] = value
    sd = {"hyper": meta["hyper"], "state": state}
    try:
        copy.copy(optimizer).load_state_dict(sd)  # validate on a copy: a bad file changes nothing
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"checkpoint {path} does not match the optimizer: {e}") from None
    return sd
