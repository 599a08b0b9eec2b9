"""TinyTorch milestones harness: registry, judge, datasets, CLI."""
