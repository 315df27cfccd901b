"""SpecVQGAN trains through the shared loop (`videozoo.training.fit`): Stage I, then Stage II on its indices, on the
synthetic task where the visual condition decides the pitch and the rhythm of a tone."""

import pytest
import torch
from transformers import AutoModel

from videozoo.configuration import SpecVQGANConfig, SpecVQGANSamplerConfig
from videozoo.data.specvqgan import collate, make_synthetic_dataset, synthetic_tone
from videozoo.modeling import SpecVQGANForConditionalGeneration, SpecVQGANModel
from videozoo.processors import SpecVQGANFeatureExtractor, SpecVQGANProcessor
from videozoo.tasks.specvqgan import SpecVQGANCodebookTask, SpecVQGANSamplerTask
from videozoo.training import TrainerArguments, fit


def synthetic_processor() -> SpecVQGANProcessor:
    # 0.5 s -> 44 frames of 16 mel bands, centre crop 40 -> a 4 x 10 grid of indices after two downsamplings
    extractor = SpecVQGANFeatureExtractor(feature_size=16, pad_to_seconds=0.5, max_frames=None, crop_frames=40)
    return SpecVQGANProcessor(extractor, num_features=2, feature_length=11, feature_crop_length=9, feature_size=8)


def test_synthetic_tone_classes_differ_in_pitch_and_rhythm():
    extractor = synthetic_processor().feature_extractor
    spectra = [extractor(synthetic_tone(c, 0.5), sampling_rate=22050)["input_features"][0] for c in range(4)]
    assert spectra[0].mean(1).argmax() < spectra[1].mean(1).argmax()  # pitch: class 1 is two octaves higher
    changes = [(s.max(0).values > 0).float().diff().abs().sum() for s in spectra]
    assert changes[2] > changes[0]  # rhythm: class 2 switches on and off more often than class 0


def train_both_stages(tmp_path, codebook_steps: int, sampler_steps: int):
    processor = synthetic_processor()
    train = make_synthetic_dataset(processor, 16, 0.5, seed=0)
    evaluation = make_synthetic_dataset(processor, 8, 0.5, seed=1)
    torch.manual_seed(0)
    stage1 = SpecVQGANModel(
        SpecVQGANConfig(
            num_mel_bins=16,
            base_channels=32,
            channel_multipliers=[1, 1, 2],
            num_res_blocks=1,
            attn_resolutions=[4],
            resolution=16,
            z_channels=32,
            embed_dim=8,
            num_embeddings=16,
        )
    )
    # without it the U(-1/K, 1/K) codebook collapses onto 2 codes within 20 steps here
    stage1.init_codebook_from(collate(train)["input_features"], torch.Generator().manual_seed(0))
    common = dict(per_device_train_batch_size=4, per_device_eval_batch_size=8, cpu=True, disable_tqdm=True)
    codebook_metrics = fit(
        stage1,
        SpecVQGANCodebookTask(),
        train,
        TrainerArguments(
            output_dir=str(tmp_path / "codebook"), max_steps=codebook_steps, learning_rate=2e-3, **common
        ),
        collate_fn=collate,
        eval_dataset=evaluation,
        processor=processor,
    )
    stage1 = AutoModel.from_pretrained(tmp_path / "codebook").eval()
    assert isinstance(stage1, SpecVQGANModel)
    torch.manual_seed(0)
    sampler = SpecVQGANForConditionalGeneration.from_first_stage(
        stage1,
        SpecVQGANSamplerConfig(
            latent_grid=[4, 10],
            feature_size=8,
            num_features=2,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
        ),
    )
    sampler_metrics = fit(
        sampler,
        SpecVQGANSamplerTask(),
        train,
        TrainerArguments(output_dir=str(tmp_path / "sampler"), max_steps=sampler_steps, learning_rate=3e-3, **common),
        collate_fn=collate,
        eval_dataset=evaluation,
        processor=processor,
    )
    sampler = AutoModel.from_pretrained(tmp_path / "sampler").eval()
    assert isinstance(sampler, SpecVQGANForConditionalGeneration)
    assert torch.equal(sampler.first_stage_model.quantize.embedding.weight, stage1.quantize.embedding.weight)
    return stage1, sampler, codebook_metrics, sampler_metrics, evaluation


def test_training_path_of_both_stages(tmp_path):
    _, _, codebook_metrics, sampler_metrics, _ = train_both_stages(tmp_path, 2, 2)
    assert {"l1", "codebook_loss", "codes_used"} <= set(codebook_metrics)
    assert {"loss", "token_accuracy"} <= set(sampler_metrics)


@pytest.mark.slow
def test_the_visual_condition_decides_the_generated_sound(tmp_path):
    """Measured (CPU, 1 thread, ~31 s): held-out codebook L1 0.151 after 60 steps (16 of 16 codes at the start, 8
    used at the end); held-out teacher-forced token accuracy 0.894 after 150 sampler steps, greedy-generated tokens
    0.925 equal to the truth, and every class's generation nearest its own reconstruction."""
    stage1, sampler, codebook_metrics, sampler_metrics, evaluation = train_both_stages(tmp_path, 60, 150)
    print(codebook_metrics, sampler_metrics)
    assert codebook_metrics["l1"] < 0.25, codebook_metrics
    assert sampler_metrics["token_accuracy"] > 0.8, sampler_metrics
    # greedy generation from each class's features decodes to the spectrogram closest to that class's own
    # reconstruction: the condition decides pitch and rhythm
    batch = collate(evaluation[:4])
    with torch.no_grad():
        generated = sampler.generate(batch["visual_features"], do_sample=False).spectrogram
        references = stage1(batch["input_features"]).reconstruction
    distances = torch.cdist(generated.flatten(1), references.flatten(1))
    assert torch.equal(distances.argmin(dim=1), torch.arange(4)), distances
