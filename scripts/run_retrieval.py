"""Train or evaluate a retrieval model (MMT, modality-masking pre-training, AVLnet, Everything at Once).

    accelerate launch scripts/run_retrieval.py train --model_type mmt --dataset_name synthetic --output_dir runs/mmt
    python scripts/run_retrieval.py evaluate --model_type mmt --model_name_or_path runs/mmt --dataset_name synthetic
    python scripts/run_retrieval.py train --model_type avlnet --help    # the arguments of one model

Each model's arguments, data and task are its recipe in `videozoo/tasks/<model>.py` (docs/training.md).
"""

from videozoo.recipes import run_family

if __name__ == "__main__":
    run_family("retrieval")
