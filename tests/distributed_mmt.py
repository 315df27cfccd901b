"""Run by `test_training_mmt.py` under `accelerate launch --multi_gpu --num_processes 2` on CPUs (gloo).

Every process builds the same tiny MMT and the same global batch, takes its own half, and runs the training loss
of `MMTRetrievalTask` (embeddings all-gathered with gradients) through the DDP-wrapped model. Rank 0 also computes
the loss and gradients of an unwrapped copy on the whole global batch in one process, and writes both to JSON.
"""

import copy
import json
import sys

import torch
from accelerate import Accelerator

import videozoo  # noqa: F401
from videozoo.modeling import MMTModel
from videozoo.modeling.losses import max_margin_ranking_loss
from videozoo.tasks.mmt import MMTRetrievalTask

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from tests.test_modeling_mmt import mmt_inputs  # noqa: E402
from tests.tiny_configs import tiny_config  # noqa: E402


def main(output_path: str, text_projection: str) -> None:
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    config = tiny_config(
        "mmt", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, text_projection=text_projection
    )
    config.text_config.hidden_dropout_prob = 0.0
    config.text_config.attention_probs_dropout_prob = 0.0
    model = MMTModel(config).train()
    if accelerator.num_processes > 1 and text_projection == "gated_bn":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    reference = copy.deepcopy(model)
    batch = mmt_inputs(config, 8, seed=3)
    half = 8 // accelerator.num_processes
    rank = accelerator.process_index

    def local(value):
        if isinstance(value, dict):
            return {k: local(v) for k, v in value.items()}
        return value[rank * half : (rank + 1) * half]

    task = MMTRetrievalTask(margin=0.2)
    ddp_model = accelerator.prepare(model)
    loss = task.training_loss(ddp_model, local(batch))
    accelerator.backward(loss)
    grads = {
        n: p.grad.clone() for n, p in accelerator.unwrap_model(ddp_model).named_parameters() if p.grad is not None
    }

    if accelerator.is_main_process:
        out = reference(**batch)
        full = max_margin_ranking_loss(out.logits_per_text, 0.2)
        full.backward()
        ref_grads = {n: p.grad for n, p in reference.named_parameters() if p.grad is not None}
        names = [n.replace("module.", "") for n in grads]
        worst = max((grads[n] - ref_grads[n.replace("module.", "")]).abs().max().item() for n in grads)
        result = {
            "num_processes": accelerator.num_processes,
            "distributed_type": str(accelerator.distributed_type),
            "loss": loss.item(),
            "reference_loss": full.item(),
            "max_grad_difference": worst,
            "max_grad": max(g.abs().max().item() for g in ref_grads.values()),
            "missing": sorted(set(ref_grads) - set(names)),
        }
        with open(output_path, "w") as handle:
            json.dump(result, handle)
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "gated")
