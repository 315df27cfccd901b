"""The CLIP frame extractor: transformers' CLIP image tower with its projection (`encode_image`), the reference's
transforms (bicubic resize of the shorter side, centre crop, CLIP's mean / std), conversion from a transformers
CLIP checkpoint, and `scripts/extract_features.py --extractor clip` on a clip."""

import numpy as np
import pytest
import torch
from transformers import CLIPConfig, CLIPModel

from videozoo.configuration import CLIPFramesConfig
from videozoo.modeling import CLIPFramesModel
from videozoo.processors import CLIPFramesProcessor

from .expert_features_tester import ExpertFeaturesTesterMixin
from .tiny_configs import TINY_CONFIGS


class TestCLIPFrames(ExpertFeaturesTesterMixin):
    model_type = "clip_frames"
    test_attention_implementations = True  # CLIP attends, through transformers' attention interface

    def prepare_inputs(self, config, batch_size):
        size = config.image_size
        return {"pixel_values": torch.randn(batch_size, 3, size, size, generator=torch.Generator().manual_seed(0))}

    def test_feature_size_and_bad_inputs(self):
        model = self.build()
        out = model(**self.prepare_inputs(model.config, 2))
        assert out.features.shape == (2, model.config.feature_size) == (2, 24)
        with pytest.raises(ValueError, match=r"pixel_values must be \(batch, 3, 32, 32\)"):
            model(torch.zeros(2, 3, 48, 32))


def _tiny_clip_model(folder):
    """A random transformers CLIPModel (both towers) saved like a downloaded checkpoint."""
    vision = {k: v for k, v in TINY_CONFIGS["clip_frames"].items() if k not in ("projection_dim", "extraction_fps")}
    text = dict(hidden_size=20, intermediate_size=23, num_hidden_layers=1, num_attention_heads=2, vocab_size=99,
                max_position_embeddings=16)  # fmt: skip
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(vision_config=vision, text_config=text, projection_dim=24)).eval()
    model.save_pretrained(folder)
    return model


def test_conversion_from_a_transformers_clip_checkpoint_gives_its_image_embeddings(tmp_path):
    clip = _tiny_clip_model(tmp_path / "clip")
    model = CLIPFramesModel.from_clip_checkpoint(tmp_path / "clip", extraction_fps=1.0)
    assert model.config.extraction_fps == 1.0 and model.config.feature_size == 24
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
        features = model(pixels).features
    assert torch.equal(features, expected)  # the same modules and weights: bit for bit
    with pytest.raises(FileNotFoundError, match="no config.json"):
        CLIPFramesModel.from_clip_checkpoint(tmp_path / "nothing")


def test_conversion_script_writes_an_extractor_the_auto_classes_load(tmp_path, capsys):
    from transformers import AutoFeatureExtractor, AutoModel

    from videozoo.scripts.convert_clip_frames_checkpoint import main

    clip = _tiny_clip_model(tmp_path / "clip")
    assert main(["--clip_model", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "never")]) == 1
    assert "--clip_model" in capsys.readouterr().err and not (tmp_path / "never").exists()
    argv = ["--clip_model", str(tmp_path / "clip"), "--output_dir", str(tmp_path / "out"), "--extraction_fps", "2"]
    assert main(argv) == 0
    model = AutoModel.from_pretrained(tmp_path / "out").eval()
    processor = AutoFeatureExtractor.from_pretrained(tmp_path / "out")
    assert type(model) is CLIPFramesModel and type(processor) is CLIPFramesProcessor
    assert processor.image_size == 32 and processor.extraction_fps == model.config.extraction_fps == 2.0
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(model(pixels).features, clip.visual_projection(clip.vision_model(pixels).pooler_output))


def test_model_names_and_resnet_towers():
    assert CLIPFramesConfig.from_model_name("ViT-B/32").to_dict() == CLIPFramesConfig().to_dict()
    assert CLIPFramesConfig.from_model_name("ViT-L/14@336px").image_size == 336
    with pytest.raises(ValueError, match="modified-ResNet image tower"):
        CLIPFramesConfig.from_model_name("RN50x16")
    with pytest.raises(ValueError, match="model_name must be one of ViT-B/32"):
        CLIPFramesConfig.from_model_name("ViT-H/14")
    with pytest.raises(ValueError, match="extraction_fps must be positive"):
        CLIPFramesConfig(extraction_fps=-1.0)
    with pytest.raises(ValueError, match="must be divisible by patch_size"):
        CLIPFramesConfig(image_size=100)


def test_processor_is_the_references_transform():
    """PIL bicubic resize of the shorter side to 224 (long side truncated), centre crop with round-half-even
    offsets, [0, 1], CLIP's mean / std: computed here step by step with PIL on a 240 x 320 frame."""
    from PIL import Image

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    pixels = CLIPFramesProcessor()(frame[None])["pixel_values"]
    assert pixels.shape == (1, 3, 224, 224)
    resized = np.asarray(Image.fromarray(frame).resize((298, 224), Image.BICUBIC), dtype=np.float64)
    crop = resized[:, 37 : 37 + 224] / 255  # (298 - 224) / 2 = 37
    expected = (crop - np.array([0.48145466, 0.4578275, 0.40821073])) / np.array([0.26862954, 0.26130258, 0.27577711])
    # float32 normalisation of exact uint8 values: measured 2.8e-7 from float64
    assert np.abs(pixels[0].permute(1, 2, 0).numpy() - expected).max() < 1e-5
    with pytest.raises(ValueError, match="uint8"):
        CLIPFramesProcessor()(torch.zeros(1, 3, 8, 8))


def test_extract_features_clip_on_a_clip(tmp_path):
    from videozoo.scripts.extract_features import main

    from .test_processing_sparsesync import _write_counter_clip

    _write_counter_clip(tmp_path / "clip.mp4", 25, 2.4)
    CLIPFramesModel(CLIPFramesConfig(**TINY_CONFIGS["clip_frames"])).save_pretrained(tmp_path / "model")
    CLIPFramesProcessor(image_size=32, extraction_fps=5.0).save_pretrained(tmp_path / "model")
    out = tmp_path / "out"
    argv = ["--extractor", "clip", "--model", str(tmp_path / "model"), "--videos", str(tmp_path / "clip.mp4")]
    assert main(argv + ["--output_dir", str(out), "--save_timestamps"]) == 0
    features = np.load(out / "clip_clip.npy")
    assert features.shape == (12, 24)  # 2.4 s at 5 fps, projection_dim 24
    assert np.allclose(np.load(out / "clip_timestamps_ms.npy"), np.arange(12) * 200)
    # a processor of another input size than the network's is refused before any video is read
    CLIPFramesProcessor(image_size=48).save_pretrained(tmp_path / "model")
    assert main(argv + ["--output_dir", str(tmp_path / "never")]) == 1
    assert not (tmp_path / "never").exists()
