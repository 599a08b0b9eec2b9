"""Learning-rate schedules (module 07): warmup, then cosine decay."""

import math

__all__ = ["CosineSchedule"]


class CosineSchedule:
    """Linear warmup to ``max_lr``, then cosine decay to ``min_lr`` over ``total_steps``.

    Counts optimizer steps (call ``step()`` after each ``optimizer.step()``; the Trainer does
    this per batch). The learning rate at step ``s`` is::

        s < warmup_steps:        max_lr * (s + 1) / warmup_steps
        warmup_steps <= s < T:   min_lr + (max_lr - min_lr) * (1 + cos(pi * p)) / 2,
                                 p = (s - warmup_steps) / (T - warmup_steps)
        s >= T:                  min_lr

    Warmup starts at ``max_lr / warmup_steps``, not 0, so no step is wasted. Construction
    sets ``optimizer.lr = get_lr(0)``.

    Args:
        optimizer: any object with an ``lr`` attribute.
        max_lr: peak learning rate, reached at the end of warmup.
        min_lr: final learning rate at ``total_steps`` and after.
        total_steps: steps over which warmup and decay happen (> 0).
        warmup_steps: steps of linear warmup (0 to ``total_steps``).

    Example::

        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.optimizers import SGD
        >>> from tinytorch.core.schedules import CosineSchedule
        >>> opt = SGD(Linear(4, 2).parameters(), lr=0.0)
        >>> sched = CosineSchedule(opt, max_lr=1e-2, min_lr=1e-4, total_steps=1000, warmup_steps=50)
        >>> opt.lr
        0.0002
        >>> opt.step(); round(sched.step(), 6)
        0.0004
    """

    def __init__(self, optimizer, max_lr, min_lr, total_steps, warmup_steps=0):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be > 0, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
        if not 0 <= min_lr <= max_lr:
            raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
        self.optimizer = optimizer
        self.max_lr, self.min_lr = float(max_lr), float(min_lr)
        self.total_steps, self.warmup_steps = int(total_steps), int(warmup_steps)
        self.last_step = 0
        optimizer.lr = self.get_lr(0)

    def get_lr(self, step):
        """Learning rate for optimizer step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return self.max_lr * (step + 1) / self.warmup_steps
        if step >= self.total_steps:
            return self.min_lr
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (self.max_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def step(self):
        """Advance one optimizer step and set the optimizer's learning rate for the next one."""
        self.last_step += 1
        self.optimizer.lr = self.get_lr(self.last_step)
        return self.optimizer.lr

    def state_dict(self):
        """Return the step counter (the only state), e.g. for ``save_checkpoint(..., **extra)``."""
        return {"last_step": self.last_step}

    def load_state_dict(self, state_dict):
        """Resume at a saved step and set the optimizer's learning rate to match."""
        self.last_step = int(state_dict["last_step"])
        self.optimizer.lr = self.get_lr(self.last_step)
