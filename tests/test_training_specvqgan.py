"""SpecVQGAN trains through the shared loop (`videozoo.training.fit`): Stage I, then Stage II on its indices, on the
synthetic task where the visual condition decides the pitch and the rhythm of a tone."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel

from videozoo.data.specvqgan import collate, make_synthetic_dataset, synthetic_tone
from videozoo.modeling import SpecVQGANForConditionalGeneration, SpecVQGANModel
from videozoo.recipes import run_family
from videozoo.scripts import generate_specvqgan
from videozoo.tasks.specvqgan import synthetic_processor


def test_synthetic_tone_classes_differ_in_pitch_and_rhythm():
    extractor = synthetic_processor().feature_extractor
    spectra = [extractor(synthetic_tone(c, 0.5), sampling_rate=22050)["input_features"][0] for c in range(4)]
    assert spectra[0].mean(1).argmax() < spectra[1].mean(1).argmax()  # pitch: class 1 is two octaves higher
    changes = [(s.max(0).values > 0).float().diff().abs().sum() for s in spectra]
    assert changes[2] > changes[0]  # rhythm: class 2 switches on and off more often than class 0


def train_specvqgan(args: list[str]) -> dict:
    return run_family("generation", ["train", *args])


def evaluate_specvqgan(args: list[str]) -> dict:
    return run_family("generation", ["evaluate", *args])


def train_both_stages(tmp_path, codebook_steps: int, sampler_steps: int):
    """`scripts/run_generation.py train` on the synthetic task: Stage I, then the sampler on it."""
    common = ["--dataset_name", "synthetic", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8"]
    common += ["--cpu", "--disable_tqdm", "--report_to", "none"]
    codebook_metrics = train_specvqgan(
        common + ["--model_type", "specvqgan", "--max_steps", str(codebook_steps), "--learning_rate", "2e-3"]
        + ["--output_dir", str(tmp_path / "codebook")]
    )  # fmt: skip
    sampler_metrics = train_specvqgan(
        common + ["--model_type", "specvqgan_sampler", "--first_stage", str(tmp_path / "codebook")]
        + ["--max_steps", str(sampler_steps), "--learning_rate", "3e-3", "--output_dir", str(tmp_path / "sampler")]
    )  # fmt: skip
    stage1 = AutoModel.from_pretrained(tmp_path / "codebook").eval()
    sampler = AutoModel.from_pretrained(tmp_path / "sampler").eval()
    assert isinstance(stage1, SpecVQGANModel) and isinstance(sampler, SpecVQGANForConditionalGeneration)
    assert torch.equal(sampler.first_stage_model.quantize.embedding.weight, stage1.quantize.embedding.weight)
    evaluation = make_synthetic_dataset(synthetic_processor(), 8, 0.5, seed=1)
    return stage1, sampler, codebook_metrics, sampler_metrics, evaluation


def test_training_path_of_both_stages(tmp_path):
    _, _, codebook_metrics, sampler_metrics, _ = train_both_stages(tmp_path, 2, 2)
    assert {"l1", "codebook_loss", "codes_used"} <= set(codebook_metrics)
    assert {"loss", "token_accuracy"} <= set(sampler_metrics)


@pytest.mark.slow
def test_the_visual_condition_decides_the_generated_sound(tmp_path):
    """Measured (CPU, 1 thread, ~27 s): held-out codebook L1 0.218 after 60 steps (13 of 16 codes used); held-out
    teacher-forced token accuracy 0.944 after 150 sampler steps; every class's greedy generation decodes nearest its
    own reconstruction (pitch and rhythm follow the visual condition)."""
    stage1, sampler, codebook_metrics, sampler_metrics, evaluation = train_both_stages(tmp_path, 60, 150)
    print(codebook_metrics, sampler_metrics)
    assert codebook_metrics["l1"] < 0.3, codebook_metrics
    assert sampler_metrics["token_accuracy"] > 0.8, sampler_metrics
    # greedy generation from each class's features decodes to the spectrogram closest to that class's own
    # reconstruction: the condition decides pitch and rhythm
    batch = collate(evaluation[:4])
    with torch.no_grad():
        generated = sampler.generate(batch["visual_features"], do_sample=False).spectrogram
        references = stage1(batch["input_features"]).reconstruction
    distances = torch.cdist(generated.flatten(1), references.flatten(1))
    assert torch.equal(distances.argmin(dim=1), torch.arange(4)), distances


def test_evaluation_path_and_its_argument_checks(tmp_path):
    """`scripts/run_generation.py evaluate` on the synthetic task (2-step models): every figure of both conditions is
    written; bad arguments fail before anything is loaded or written."""
    train_both_stages(tmp_path, 2, 2)
    args = ["--model_name_or_path", str(tmp_path / "sampler"), "--num_eval_examples", "4", "--samples_per_video", "2"]
    metrics = evaluate_specvqgan(args + ["--output_dir", str(tmp_path / "eval")])
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written == metrics and written["videos"] == 4
    for condition in ("visual", "random"):
        assert {f"{condition}/{k}" for k in ("fid", "mkl", "class_accuracy", "pitch_accuracy")} <= set(written)
    with pytest.raises(ValueError, match="unknown condition 'shuffled'") as raised:
        evaluate_specvqgan(args + ["--output_dir", str(tmp_path / "eval"), "--conditions", "visual,shuffled"]
                                + ["--samples_per_video", "0", "--melception", "m"])  # fmt: skip
    assert "--samples_per_video must be > 0" in str(raised.value) and "--melception is for" in str(raised.value)
    with pytest.raises(ValueError, match="specvqgan has no evaluate command"):
        evaluate_specvqgan(["--model_name_or_path", str(tmp_path / "codebook")])
    with pytest.raises(ValueError, match="--data_dir is required"):
        evaluate_specvqgan(args[:2] + ["--dataset_name", "vas", "--melception", str(tmp_path / "sampler")])
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    # metrics.json written into the model's own folder replaces nothing else there (the weights stay)
    evaluate_specvqgan(args + ["--output_dir", str(tmp_path / "sampler"), "--conditions", "visual"])
    assert (tmp_path / "sampler" / "model.safetensors").is_file() and (tmp_path / "sampler" / "metrics.json").is_file()


@pytest.mark.slow
def test_the_visual_condition_beats_random_features(tmp_path):
    """The paper's protocol on the synthetic task: 10 samples for each of 16 held-out videos, scored by the task's
    own classifier. Measured (CPU, 1 thread, ~26 s with training): visual / random features FID 0.66 / 0.94, MKL
    0.54 / 8.07, class accuracy 0.94 / 0.32, pitch accuracy 0.975 / 0.475 (chance 0.25 / 0.5); Stage I reconstructs
    the held-out spectrograms with L1 0.216, and every reconstruction is classified right."""
    train_both_stages(tmp_path, 60, 150)
    metrics = evaluate_specvqgan(["--model_name_or_path", str(tmp_path / "sampler")])
    print(metrics)
    assert metrics["reconstruction/l1"] < 0.3 and metrics["reconstruction/class_accuracy"] == 1.0, metrics
    assert metrics["visual/mkl"] + 3.0 < metrics["random/mkl"], metrics
    assert metrics["visual/fid"] < metrics["random/fid"], metrics
    assert metrics["visual/class_accuracy"] > metrics["random/class_accuracy"] + 0.4, metrics
    # sampling seeds 1 and 2 on the same model: random pitch accuracy 0.58 / 0.62, visual 0.97 / 0.96
    assert metrics["visual/pitch_accuracy"] > 0.9, metrics
    assert metrics["visual/pitch_accuracy"] > metrics["random/pitch_accuracy"] + 0.25, metrics


def tiny_vas_models(folder):
    """Random models of the VAS shapes (80 x 848 spectrograms, 2048-d features), small enough for a CPU test: a
    sampler on a 5 x 53 grid, a 1/8-width Melception and a narrow MelGAN, saved under `folder`."""
    from videozoo.configuration import MelceptionConfig, MelGANConfig, SpecVQGANConfig, SpecVQGANSamplerConfig
    from videozoo.modeling import MelceptionModel, MelGANVocoder

    torch.manual_seed(0)
    stage1 = SpecVQGANModel(
        SpecVQGANConfig(
            base_channels=32, channel_multipliers=[1, 1, 1, 1, 1], num_res_blocks=1, attn_resolutions=[],
            z_channels=32, embed_dim=8, num_embeddings=16,
        )
    )  # fmt: skip
    sampler_config = SpecVQGANSamplerConfig(
        latent_grid=[5, 53], num_features=2, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    SpecVQGANForConditionalGeneration.from_first_stage(stage1, sampler_config).save_pretrained(folder / "sampler")
    MelceptionModel(MelceptionConfig(num_classes=8, width_divisor=8, aux_logits=False)).save_pretrained(
        folder / "melception"
    )
    MelGANVocoder(MelGANConfig(generator_width=2)).save_pretrained(folder / "melgan")


def test_evaluation_on_the_authors_vas_layout(tmp_path, shared_dir):
    """The VAS path of `scripts/run_generation.py evaluate`: the authors' spectrograms and ResNet-50 feature pickles
    (read with the restricted unpickler), a saved Melception (random, 1/8 width) scoring FID and MKL; tiny random
    models, so only the path and the bookkeeping are checked, not the figures."""
    tiny_vas_models(tmp_path)
    root = shared_dir / "data" / "specvqgan" / "vas"
    metrics = evaluate_specvqgan(
        ["--model_name_or_path", str(tmp_path / "sampler"), "--dataset_name", "vas", "--data_dir", str(root)]
        + ["--split", "none", "--melception", str(tmp_path / "melception"), "--max_videos", "2"]
        + ["--samples_per_video", "2", "--output_dir", str(tmp_path / "eval")]
    )  # fmt: skip
    assert metrics["videos"] == 2 and "visual/class_accuracy" not in metrics
    for key in ("visual/fid", "visual/mkl", "random/fid", "random/mkl", "reconstruction/l1"):
        # MKL adds 1e-6 to q inside the log (the reference's form), so identical distributions give about -1e-6 per
        # class (-8.0e-6 measured with 8 classes)
        assert np.isfinite(metrics[key]) and metrics[key] > -1e-4, key
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics


def test_generation_from_feature_files(tmp_path, shared_dir):
    """`scripts/generate_specvqgan.py` on the authors' feature pickles and a .npy file: a PNG, the [0, 1] log-mel and
    a 22 050 Hz wav (848 x 256 samples, through the vocoder) per sample, named as the reference's sampler."""
    import wave

    tiny_vas_models(tmp_path)
    root = shared_dir / "data" / "specvqgan" / "vas" / "features" / "dog" / "feature_resnet50_dim2048_21.5fps"
    array = np.random.default_rng(0).standard_normal((150, 2048)).astype(np.float32)
    np.save(tmp_path / "clip.npy", array)
    out = tmp_path / "samples"
    out.mkdir()
    (out / "earlier.txt").write_text("kept")
    written = generate_specvqgan.main(
        ["--model_name_or_path", str(tmp_path / "sampler"), "--vocoder", str(tmp_path / "melgan")]
        + ["--features", str(root / "video_02677.pkl"), str(tmp_path / "clip.npy"), "--samples_per_video", "2"]
        + ["--output_dir", str(out)]
    )  # fmt: skip
    stems = ["video_02677_sample_0", "video_02677_sample_1", "clip_sample_0", "clip_sample_1"]
    assert sorted(written) == sorted(f"{s}.{e}" for s in stems for e in ("npy", "png", "wav"))
    assert sorted(p.name for p in out.iterdir()) == sorted(written + ["earlier.txt"])
    spectrogram = np.load(out / "clip_sample_0.npy")
    assert spectrogram.shape == (80, 848) and 0 <= spectrogram.min() and spectrogram.max() <= 1
    with wave.open(str(out / "clip_sample_0.wav")) as file:
        assert (file.getframerate(), file.getnchannels(), file.getnframes()) == (22050, 1, 848 * 256)
    assert (out / "clip_sample_0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not np.array_equal(spectrogram, np.load(out / "clip_sample_1.npy"))  # two draws


def test_generation_from_a_video(tmp_path, shared_dir):
    """`--videos` with a `resnet_frames` checkpoint: the frame-wise features of the mp4 at 21.5 fps condition the
    sampler (a random ResNet of 2048-d outputs here: the path, shapes and file names, not the sound)."""
    from videozoo.configuration import ResNetFramesConfig
    from videozoo.modeling import ResNetFramesModel

    tiny_vas_models(tmp_path)
    ResNetFramesModel(ResNetFramesConfig(depths=[1, 1, 1, 1], widths=[8, 8, 8, 512])).save_pretrained(
        tmp_path / "resnet"
    )
    video = shared_dir / "data" / "specvqgan" / "vas" / "videos" / "dog" / "video_02677.mp4"
    written = generate_specvqgan.main(
        ["--model_name_or_path", str(tmp_path / "sampler"), "--videos", str(video)]
        + ["--feature_extractor", str(tmp_path / "resnet"), "--output_dir", str(tmp_path / "samples")]
    )  # fmt: skip
    assert sorted(written) == ["video_02677_sample_0.npy", "video_02677_sample_0.png"]
    assert np.load(tmp_path / "samples" / "video_02677_sample_0.npy").shape == (80, 848)
    with pytest.raises(ValueError, match="--feature_extractor is required"):
        generate_specvqgan.main(
            ["--model_name_or_path", str(tmp_path / "sampler"), "--videos", str(video), "--output_dir", str(tmp_path)]
        )


def test_generation_argument_checks_leave_the_output_untouched(tmp_path):
    train_both_stages(tmp_path, 2, 2)
    out = tmp_path / "samples"
    written = generate_specvqgan.main(
        ["--model_name_or_path", str(tmp_path / "sampler"), "--dataset_name", "synthetic", "--output_dir", str(out)]
    )
    assert len(written) == 8 and written[0] == "synthetic000_class0_sample_0.npy"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    mistakes = {
        "no input": (["--dataset_name", "files"], "give exactly one input"),
        "two inputs": (["--dataset_name", "synthetic", "--data_dir", str(tmp_path)], "give exactly one input"),
        "missing file": (["--features", str(tmp_path / "none.pkl")], "none.pkl not found"),
        "not features": (["--features", str(tmp_path / "codebook" / "config.json")], "neither a .pkl nor a .npy"),
        "a Stage I": (["--dataset_name", "synthetic", "--vocoder", str(tmp_path / "codebook")], "not 'melgan'"),
        "no samples": (["--dataset_name", "synthetic", "--samples_per_video", "0"], "--samples_per_video must be"),
    }
    for name, (args, message) in mistakes.items():
        with pytest.raises(ValueError, match="invalid arguments") as raised:
            generate_specvqgan.main(
                ["--model_name_or_path", str(tmp_path / "sampler"), "--output_dir", str(out)] + args
            )
        assert message in str(raised.value), name
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_adversarial_stage_one_alternates_two_optimizers_and_resumes_exactly(tmp_path):
    """`--adversarial`: the discriminator (own Adam) starts after `--disc_start` batches and alternates with the
    autoencoder's optimizer; a run stopped at a checkpoint and resumed ends bit-identical to an uninterrupted one
    (both networks and both optimizers are in the checkpoints)."""
    from safetensors.torch import load_file

    common = ["--dataset_name", "synthetic", "--per_device_train_batch_size", "4", "--cpu", "--disable_tqdm"]
    common += ["--report_to", "none", "--model_type", "specvqgan", "--adversarial", "--disc_start", "2"]
    common += ["--learning_rate", "2e-3", "--adam_beta1", "0.5", "--adam_beta2", "0.9", "--checkpointing_steps", "2"]
    train_specvqgan(common + ["--max_steps", "4", "--output_dir", str(tmp_path / "whole")])
    train_specvqgan(common + ["--max_steps", "2", "--output_dir", str(tmp_path / "split")])
    train_specvqgan(
        common + ["--max_steps", "4", "--output_dir", str(tmp_path / "split"), "--resume_from_checkpoint", "latest"]
    )
    whole, split = (load_file(tmp_path / run / "model.safetensors") for run in ("whole", "split"))
    assert whole.keys() == split.keys() and all(torch.equal(whole[k], split[k]) for k in whole)
    checkpoints = tmp_path / "whole" / "checkpoints"
    discriminators = [load_file(checkpoints / f"step_{s}" / "model_1.safetensors") for s in (2, 4)]
    resumed = load_file(tmp_path / "split" / "checkpoints" / "step_4" / "model_1.safetensors")
    assert all(torch.equal(discriminators[1][k], resumed[k]) for k in resumed)
    # the discriminator was still at its start up to disc_start (2 batches) and trained after it
    assert not all(torch.equal(discriminators[0][k], discriminators[1][k]) for k in resumed)
