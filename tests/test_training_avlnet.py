"""AVLnet learns the synthetic tone-band x rhythm task through its training script."""

from videozoo.scripts import train_avlnet


def test_audio_video_retrieval_learns_far_above_chance(tmp_path):
    metrics = train_avlnet.main(
        [
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
        ]
    )
    # 64 held-out clips, one per latent: chance R@1 1.6%, R@10 15.6%
    assert metrics["a2v_R10"] >= 60.0 and metrics["a2v_R1"] >= 10.0 and metrics["v2a_R10"] >= 60.0, metrics
