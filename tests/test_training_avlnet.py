"""AVLnet learns the synthetic tone-band x rhythm task through `run_retrieval.py train`."""

from videozoo.recipes import run_family


def test_audio_video_retrieval_learns_far_above_chance(tmp_path):
    metrics = run_family(
        "retrieval",
        [
            "train",
            "--model_type",
            "avlnet",
            "--output_dir",
            str(tmp_path / "run"),
            "--max_steps",
            "150",
            "--per_device_train_batch_size",
            "64",
            "--learning_rate",
            "1e-3",
            "--num_train_clips",
            "1024",
            "--mask_padding_in_training",
            "--disable_tqdm",
            "--per_device_eval_batch_size",
            "64",
        ],
    )
    # 64 held-out clips, one per latent: chance R@1 1.6%, R@10 15.6%
    assert metrics["a2v_R10"] >= 60.0 and metrics["a2v_R1"] >= 10.0 and metrics["v2a_R10"] >= 60.0, metrics
