"""`evaluate` metric modules shipped with videozoo, loaded from their paths (no network)."""

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


def load_metric(name: str, **kwargs):
    """`evaluate.load` of a metric module shipped in `videozoo/metrics/<name>/<name>.py`."""
    import evaluate

    path = METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        available = sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"no metric module {name!r} in videozoo (available: {available})")
    return evaluate.load(str(path), **kwargs)
