"""The base of videozoo's `transformers` pipelines: raw media in, JSON-serialisable answers out.

A videozoo pipeline turns each input (a media file path, or arrays with their rates) into one or more *units*
(fixed-size model inputs: a SparseSync window, an AVATAR clip...), runs the model on batches of units across
inputs (`batch_size`), and assembles each input's answer from its units' outputs. transformers' own batching
(`pad_collate_fn`) pads tokenizer and feature-extractor keys only and knows nothing of units, so `__call__` does
the batching itself, with `device` placement and an optional progress bar (`progress=True`).

Every input is checked before anything is computed (`check_input`), and bad input raises `PipelineInputError`
naming the input and the problem. Results hold only `str`, `int`, `float`, `bool`, `None`, lists and dicts
(`to_json`), so `json.dumps(result)` always works.

This module and the task modules (`pipeline_*.py`) import only transformers, torch, numpy and the project's
configuration / modeling / processors code, so `videozoo.hub.export_remote_code` ships them with a checkpoint and
`pipeline(task, model=<repo>, trust_remote_code=True)` works where videozoo is not installed.
"""

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from transformers import Pipeline


class PipelineInputError(ValueError):
    """An input of a videozoo pipeline cannot be used as given (missing file, wrong stream, too short...)."""


def to_json(value):
    """`value` with tensors, numpy arrays and numpy scalars turned into Python numbers and lists."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def media_path(item, name: str) -> Path:
    """`item` as an existing regular file, or a `PipelineInputError` naming it."""
    path = Path(item)
    if not path.exists():
        raise PipelineInputError(f"{name}: {path} does not exist")
    if not path.is_file():
        raise PipelineInputError(f"{name}: {path} is not a file")
    return path


def _media_extraction():
    """`FeatureExtraction` of scripts/extract_features.py, for the media feature hooks of the pipelines. Imported by
    name at run time, not by an import statement: the hooks need videozoo installed (the extractors are checkpoints
    of their own), and the remote code that `export_remote_code` ships with a checkpoint stays without them."""
    import importlib

    try:
        return importlib.import_module("videozoo.scripts.extract_features").FeatureExtraction
    except ImportError as error:
        raise ImportError("the media feature hooks run the zoo's extractors: install videozoo") from error


class VideozooPipeline(Pipeline):
    """Base of the videozoo pipelines (see the module docstring).

    Subclasses set `supported_model_types` and the parameter names each stage accepts (`preprocess_params`,
    `forward_params`, `postprocess_params`), and implement:

    - `check_input(item, name)`: validate one input without heavy work; return it normalised.
    - `preprocess(item, name, **params)`: `(units, context)`, `units` a list of dicts of tensors without a batch
      dimension (all units of a pipeline share their keys and shapes), `context` whatever `postprocess` needs.
    - `_forward(batch, **params)`: a dict of batched tensors -> a dict of batched output tensors.
    - `postprocess(outputs, context, **params)`: the list of the input's units' outputs (dicts of CPU tensors)
      -> its JSON-serialisable answer.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    supported_model_types: tuple[str, ...] = ()
    # the model card's snippet lines between `pipe = pipeline(...)` and `print(answer)` (videozoo/hub.py)
    card_example: tuple[str, ...] = ('answer = pipe("video.mp4")',)
    preprocess_params: tuple[str, ...] = ()
    forward_params: tuple[str, ...] = ()
    postprocess_params: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        model_type = getattr(self.model.config, "model_type", None)
        if self.supported_model_types and model_type not in self.supported_model_types:
            raise ValueError(
                f"the {self.task or type(self).__name__} pipeline works with {', '.join(self.supported_model_types)} "
                f"models, not {model_type!r}"
            )
        if self.processor is None:
            raise ValueError(f"the {self.task} pipeline needs the model's processor (pass `processor=`)")

    # ------------------------------------------------------------------ parameters
    def _sanitize_parameters(self, **kwargs):
        known = set(self.preprocess_params) | set(self.forward_params) | set(self.postprocess_params)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown parameter(s) {unknown}; it accepts {sorted(known) or 'none'}"
            )
        pick = lambda names: {k: v for k, v in kwargs.items() if k in names}  # noqa: E731
        return pick(self.preprocess_params), pick(self.forward_params), pick(self.postprocess_params)

    def is_single(self, inputs) -> bool:
        """Whether `inputs` is one input rather than a list of them (a path, or a tuple of arrays and rates)."""
        return not isinstance(inputs, list)

    def check_input(self, item, name: str):
        return item

    # ------------------------------------------------------------------ running
    def __call__(self, inputs, batch_size: int | None = None, progress: bool = False, **kwargs):
        """Answer one input (returns its answer) or a list of inputs (returns a list of answers).

        Args:
            batch_size: units per forward pass (defaults to the pipeline's `batch_size`, else 1).
            progress: show a progress bar over the inputs.
        """
        single = self.is_single(inputs)
        items = [inputs] if single else list(inputs)
        if not items:
            raise PipelineInputError("no input given")
        batch_size = int(batch_size or self._batch_size or 1)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        pre, forward, post = self._sanitize_parameters(**{**self._preprocess_params, **kwargs})
        names = [f"input {i}" if not isinstance(x, (str, Path)) else str(x) for i, x in enumerate(items)]
        items = [self.check_input(item, name) for item, name in zip(items, names)]  # all checked before computing
        answers = self._run(items, names, batch_size, progress, pre, forward, post)
        return answers[0] if single else answers

    def _run(self, items, names, batch_size, progress, pre, forward, post) -> list:
        answers = [None] * len(items)
        pending: list[tuple[int, dict]] = []  # (input index, unit)
        contexts, outputs, counts = {}, {}, {}

        def flush(force: bool):
            while pending and (force or len(pending) >= batch_size):
                chunk, pending[:] = pending[:batch_size], pending[batch_size:]
                batch = {key: torch.stack([unit[key] for _, unit in chunk]) for key in chunk[0][1]}
                result = self._forward_batch(batch, forward)
                for row, (index, _) in enumerate(chunk):
                    outputs[index].append({key: value[row] for key, value in result.items()})
            for index in [i for i in list(contexts) if len(outputs[i]) == counts[i]]:
                answers[index] = to_json(self.postprocess(outputs.pop(index), contexts.pop(index), **post))

        for index in self._progress(range(len(items)), progress):
            units, context = self.preprocess(items[index], names[index], **pre)
            contexts[index], outputs[index], counts[index] = context, [], len(units)
            pending.extend((index, unit) for unit in units)
            flush(force=False)
        flush(force=True)
        return answers

    def _forward_batch(self, batch: dict, forward: dict) -> dict:
        with self.device_placement(), torch.inference_mode():
            batch = self._ensure_tensor_on_device(batch, device=self.device)
            result = self._forward(batch, **forward)
        return {key: value.detach().to("cpu") for key, value in result.items()}

    @staticmethod
    def _progress(iterable: Iterable, show: bool):
        if not show:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, unit="input")

    # transformers' `Pipeline` declares these abstract; subclasses implement them
    def preprocess(self, item, name: str = "input", **params):
        raise NotImplementedError

    def _forward(self, batch: dict, **params) -> dict:
        raise NotImplementedError

    def postprocess(self, outputs: list[dict], context=None, **params):
        raise NotImplementedError


__all__ = ["PipelineInputError", "VideozooPipeline", "media_path", "to_json"]
