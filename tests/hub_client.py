"""Run in a fresh process by the Hub tests: load a checkpoint (folder or repo id) through the Auto classes, run the
model on saved inputs, and save every tensor of its output.

    python tests/hub_client.py {installed,remote} <folder or repo id> <inputs.pt> <outputs.pt> [--no-processor]

`remote` makes videozoo impossible to import first, and loads with `trust_remote_code=True`; `installed` imports
videozoo and loads without remote code.
"""

import sys

mode, source, inputs_path, outputs_path = sys.argv[1:5]
if mode == "remote":
    sys.modules["videozoo"] = None  # `import videozoo` now fails, as where it is not installed
    sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
else:
    import videozoo  # noqa: F401

import torch  # noqa: E402
from transformers import AutoModel, AutoProcessor  # noqa: E402

remote = mode == "remote"
model = AutoModel.from_pretrained(source, trust_remote_code=remote).eval()
processor = None if "--no-processor" in sys.argv else AutoProcessor.from_pretrained(source, trust_remote_code=remote)
inputs = torch.load(inputs_path, weights_only=True)
with torch.no_grad():
    output = model(**inputs)
tensors = {key: value for key, value in output.items() if isinstance(value, torch.Tensor)}
torch.save(
    {
        "outputs": tensors,
        "model_module": type(model).__module__,
        "processor_module": type(processor).__module__ if processor is not None else None,
        "processor": processor.to_dict() if processor is not None else None,
    },
    outputs_path,
)
