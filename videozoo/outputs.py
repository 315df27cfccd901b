"""Writing a command's final output so that a failure never destroys what its output folder held.

The final files (a model, its processor, metrics) are written into a hidden staging folder inside the output
folder; only once all of them are written do they replace the earlier ones, by renames (`move_in`). A command
that fails before that leaves the output folder as it was (the staging folder is deleted, or replaced by the
next run). Training checkpoints follow the same rule in `videozoo.training`.
"""

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_SUFFIX = ".partial"  # a folder still being written
FINAL_STAGING = ".final" + PARTIAL_SUFFIX  # the final model, until it is complete
FINAL_PREVIOUS = ".final.previous"  # the earlier final model while the new one is moved in
# files of a final model that a new one of another layout (sharded or not, with or without metrics) would not
# overwrite by name; they leave with the earlier model
_FINAL_MODEL_FILE = re.compile(
    r"^(pytorch_)?model(-\d+-of-\d+)?\.(safetensors|bin)(\.index\.json)?$|^eval_results\.json$"
)


@contextmanager
def staged_output(output_dir: str | Path) -> Iterator[Path]:
    """For single-process scripts that write a final model: yield a hidden staging folder inside `output_dir`;
    when the block completes, its files replace the earlier ones in `output_dir` (`move_in`); when it raises,
    the staging folder is deleted and `output_dir` keeps what it held."""
    output_dir = Path(output_dir)
    staging = output_dir / FINAL_STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    move_in(staging, output_dir)


def move_in(staging: Path, output_dir: Path) -> None:
    """Replace the final model in `output_dir` by the complete one in `staging`, by renames only (each atomic):
    the earlier model's files (those the new model has too, and stale weight shards or metrics) move aside into
    `.final.previous`, the new files move in, then the earlier ones are deleted. Checkpoints, logs and anything
    else in `output_dir` stay. A crash during these few renames leaves the earlier files in `.final.previous`."""
    previous = output_dir / FINAL_PREVIOUS
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir()
    new = sorted(p.name for p in staging.iterdir())
    for entry in sorted(output_dir.iterdir()):
        if entry.name in new or _FINAL_MODEL_FILE.match(entry.name):
            os.replace(entry, previous / entry.name)
    for name in new:
        os.replace(staging / name, output_dir / name)
    staging.rmdir()
    shutil.rmtree(previous)
