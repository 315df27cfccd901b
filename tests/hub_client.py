"""Run in a fresh process by the Hub tests: load checkpoints (folders or repo ids) through the Auto classes, run each
model on saved inputs, and save every tensor of its output with what its processor holds.

    python tests/hub_client.py {installed,remote} <folder or repo id> <inputs.pt> <outputs.pt> [--no-processor]
    python tests/hub_client.py {installed,remote} <jobs.json>

A jobs file lists several loads for one process (one import of torch and transformers):
`[{"source": ..., "inputs": ..., "outputs": ..., "processor": true}, ...]`; a job with `"catch_errors": true` saves
`{"error": <traceback>}` as its outputs when it fails, and the next jobs still run.

`remote` makes videozoo impossible to import first, and loads with `trust_remote_code=True`; `installed` imports
videozoo and loads without remote code. Whether the loads may use the network is the environment's business
(`HF_HUB_OFFLINE`, `HF_ENDPOINT`, `HF_HOME`).
"""

import json
import sys

mode = sys.argv[1]
if mode == "remote":
    sys.modules["videozoo"] = None  # `import videozoo` now fails, as where it is not installed
    sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
else:
    import videozoo  # noqa: F401

import torch  # noqa: E402
from transformers import AutoModel, AutoProcessor  # noqa: E402


def processor_contents(processor) -> dict:
    """`to_dict()` (settings and non-tokenizer parts) plus every tokenizer part's class, vocabulary and specials,
    which `to_dict()` leaves out."""
    tokenizers = {}
    for attribute in type(processor).get_attributes():
        part = getattr(processor, attribute, None)
        if part is not None and hasattr(part, "get_vocab"):
            tokenizers[attribute] = {
                "class": type(part).__name__,
                "vocab": dict(part.get_vocab()),
                "special_tokens": {k: str(v) for k, v in part.special_tokens_map.items()},
            }
    return {"settings": processor.to_dict(), "tokenizers": tokenizers}


def load_and_run(source: str, inputs_path: str, outputs_path: str, with_processor: bool) -> None:
    remote = mode == "remote"
    model = AutoModel.from_pretrained(source, trust_remote_code=remote).eval()
    processor = AutoProcessor.from_pretrained(source, trust_remote_code=remote) if with_processor else None
    inputs = torch.load(inputs_path, weights_only=True)
    with torch.no_grad():
        output = model(**inputs)
    tensors = {key: value for key, value in output.items() if isinstance(value, torch.Tensor)}
    contents = processor_contents(processor) if processor is not None else None
    torch.save(
        {
            "outputs": tensors,
            "model_module": type(model).__module__,
            "processor_module": type(processor).__module__ if processor is not None else None,
            "processor": contents["settings"] if contents else None,
            "tokenizers": contents["tokenizers"] if contents else None,
        },
        outputs_path,
    )


if len(sys.argv) == 3:
    with open(sys.argv[2]) as handle:
        jobs = json.load(handle)
    for job in jobs:
        if not job.get("catch_errors"):
            load_and_run(job["source"], job["inputs"], job["outputs"], job.get("processor", True))
            continue
        try:  # one failing load is that job's result, not the end of the others
            load_and_run(job["source"], job["inputs"], job["outputs"], job.get("processor", True))
        except Exception:
            import traceback

            torch.save({"error": traceback.format_exc()}, job["outputs"])
else:
    source, inputs_path, outputs_path = sys.argv[2:5]
    load_and_run(source, inputs_path, outputs_path, "--no-processor" not in sys.argv)
