# `make demo` and `make test` set everything up on a fresh machine (tools/setup_env.sh), then run.
PYTHON := .venv/bin/python
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

RUN_DIR := runs/mmt-synthetic

.PHONY: setup demo test test-slow benchmark

setup:
	bash tools/setup_env.sh

# The main job: train a small MMT on the embedded synthetic dataset with Accelerate, evaluate it with the
# paper's retrieval metrics, save model + processor, reload them through AutoModel / AutoProcessor, print metrics.
demo: setup
	rm -rf $(RUN_DIR)
	.venv/bin/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
		scripts/run_retrieval.py train --model_type mmt --dataset_name synthetic --output_dir $(RUN_DIR) \
		--max_steps 1500 --per_device_train_batch_size 64 --learning_rate 5e-4 \
		--lr_scheduler_type step --lr_step_size 500 --lr_gamma 0.95 --logging_steps 100 --checkpointing_steps 500
	$(PYTHON) scripts/run_retrieval.py evaluate --model_type mmt --model_name_or_path $(RUN_DIR) --dataset_name synthetic \
		--num_train_videos 0

# The lint and the whole test suite (heavy checks are marked `slow` and run with `make test-slow`).
test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest -q -m "not slow" tests

test-slow: setup
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest -q -m slow tests

benchmark: setup
	$(PYTHON) scripts/benchmark.py --model_type mmt
