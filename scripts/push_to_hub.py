"""Push a trained videozoo checkpoint to the Hub with its model card and self-contained remote code.

    python scripts/push_to_hub.py --checkpoint runs/mmt-synthetic --repo_id <user>/mmt-small-synthetic \
        --eval_results runs/mmt-synthetic/eval/metrics.json

Everything is validated before anything is uploaded (weights present, evaluation JSON well formed, repo id
valid); the upload goes from a staged copy, so the checkpoint folder is never modified. Training can push at the
end with `--push_to_hub --hub_model_id <user>/<name>`.
"""

import argparse
import sys

from videozoo.hub import HubExportError, push_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint", required=True, help="folder written by save_pretrained (and the training loop)"
    )
    parser.add_argument("--repo_id", required=True, help="<user or organisation>/<name>")
    parser.add_argument("--eval_results", help="metrics JSON written by an evaluation script (model-index entries)")
    parser.add_argument("--dataset_name", help="training data named in the model card (default: training_args.json)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--commit_message", default="Upload videozoo checkpoint")
    args = parser.parse_args(argv)
    try:
        url = push_checkpoint(
            args.checkpoint,
            args.repo_id,
            eval_results=args.eval_results,
            dataset_name=args.dataset_name,
            private=args.private,
            commit_message=args.commit_message,
        )
    except HubExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"pushed {args.checkpoint} to {args.repo_id}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
