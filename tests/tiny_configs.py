"""The one place tiny test configurations live, one per registered `model_type`.

Sizes are odd and unequal on purpose (hidden 32, intermediate 37, vocab 99, ...): a transposed weight or a wrong
axis cannot pass by coincidence. `test_auto_registration` fails if a registered architecture has no entry.
"""

from videozoo.configuration.small_extractors import small_extractor_config

# The caption encoder of the MMT rows (a BERT).
TINY_BERT = dict(
    model_type="bert",
    vocab_size=99,
    hidden_size=24,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=40,
)

TINY_CONFIGS: dict[str, dict] = {
    "resnet_frames": small_extractor_config("resnet_frames", extraction_fps=5.0),
    "s3d": small_extractor_config("s3d", stack_size=16, step_size=8),
    "clip_frames": dict(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        patch_size=8,
        image_size=32,
        projection_dim=24,
        extraction_fps=5.0,
    ),  # fmt: skip
    "i3d": small_extractor_config("i3d", stack_size=10, step_size=10),
    "raft": small_extractor_config("raft"),
    "vggish": small_extractor_config("vggish"),
    "avatar": dict(
        hidden_size=32,
        d_model=32,
        encoder_layers=3,
        fusion_layer=1,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_intermediate_size=37,
        decoder_ffn_dim=41,
        patch_size=8,
        image_size=32,
        num_frames=2,
        num_mel_bins=24,
        max_audio_frames=70,
        decoder_layers=2,
        vocab_size=99,
        eos_token_id=3,
        max_position_embeddings=40,
    ),
    "mmt": dict(
        expert_names=["s3d", "vggish"],
        expert_feature_sizes={"s3d": 20, "vggish": 12},
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_temporal_positions=13,
        text_config=dict(TINY_BERT),
    ),
    "mmt_modality_masking": dict(
        video_config=dict(
            expert_names=["s3d", "vggish", "asr"],
            expert_feature_sizes={"s3d": 20, "vggish": 12, "asr": 16},
            expert_type_ids={"s3d": 1, "vggish": 2, "asr": 10},
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            max_temporal_positions=13,
            text_config=dict(TINY_BERT),
        ),
        query_av_num_hidden_layers=1,
        query_av_num_attention_heads=4,
    ),
    "avlnet": dict(
        embed_dim=24,
        video_feature_size=20,
        word_embedding_size=11,
        num_mel_bins=12,
        audio_stage_depths=[1, 1],
        audio_stage_widths=[8, 16, 18],
        audio_kernel_width=5,
    ),
    "bmt": dict(
        vocab_size=99,
        audio_feature_size=12,
        video_feature_size=20,
        attention_hidden_size=32,
        decoder_hidden_size=18,
        num_attention_heads=4,
        num_encoder_layers=2,
        num_decoder_layers=2,
        audio_intermediate_size=37,
        video_intermediate_size=41,
        decoder_intermediate_size=29,
        max_position_embeddings=64,
    ),
    "mdvc": dict(
        vocab_size=99,
        speech_vocab_size=53,
        video_hidden_size=20,
        audio_hidden_size=12,
        speech_hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        video_intermediate_size=37,
        audio_intermediate_size=29,
        speech_intermediate_size=31,
        max_position_embeddings=64,
    ),
    "everything_at_once": dict(
        video_feature_size=20,
        text_feature_size=11,
        num_mel_bins=12,
        audio_stage_depths=[1, 1],
        audio_stage_widths=[8, 16, 18],
        audio_kernel_width=5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        mlp_ratio=1.0,
        projection_dim=24,
    ),
    # 16 frames of 32 x 64 px -> S3D grid (2, 1, 2); 0.64 s of audio (81 STFT frames) -> audio grid (9, 3)
    "sparsesync": dict(
        hidden_size=32,
        num_attention_heads=4,
        intermediate_size=37,
        num_selector_layers=2,
        num_sync_layers=1,
        num_visual_selectors=3,
        num_audio_selectors=5,
        visual_grid=[2, 1, 2],
        audio_grid=[9, 3],
        s3d_width_divisor=8,
        audio_backbone_widths=[8, 12, 16, 32],
        audio_backbone_depths=[1, 1, 1, 1],
        num_offset_classes=5,
        max_offset_sec=0.4,
    ),
    # 2 ** 3 * 5 = 40 channels after the first conv, hop 3 * 2 * 2 = 12 samples per frame
    "melgan": dict(
        num_mel_bins=12,
        generator_width=5,
        num_residual_layers=2,
        upsample_ratios=[3, 2, 2],
        num_discriminators=2,
        discriminator_width=8,
        discriminator_layers=2,
        discriminator_downsampling=2,
        discriminator_max_channels=24,
    ),
    # Inception-v3 widths / 16 (2048 -> 128 pool features); 24 bands (the smallest input is 23 x 23)
    "melception": dict(
        num_classes=7,
        num_mel_bins=24,
        width_divisor=16,
        aux_logits=False,
        spectrogram_mean=[0.5 - 0.01 * i for i in range(24)],
        spectrogram_std=[0.08 + 0.001 * i for i in range(24)],
    ),
    # 16 mel bins x 10 frames -> a latent grid of 8 x 5 (one downsampling); attention at the second level
    "specvqgan": dict(
        num_mel_bins=16,
        base_channels=32,
        channel_multipliers=[1, 2],
        num_res_blocks=1,
        attn_resolutions=[8],
        resolution=16,
        z_channels=32,
        embed_dim=12,
        num_embeddings=19,
        lpaps_channels=[8, 12, 16, 16, 16],
        disc_base_channels=8,
    ),
    "specvqgan_sampler": dict(
        first_stage_config=dict(
            num_mel_bins=16,
            base_channels=32,
            channel_multipliers=[1, 2],
            num_res_blocks=1,
            attn_resolutions=[8],
            resolution=16,
            z_channels=32,
            embed_dim=12,
            num_embeddings=19,
        ),
        latent_grid=[8, 5],
        feature_size=20,
        num_features=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
    ),
}


def tiny_config(model_type: str, **overrides):
    """The tiny config of `model_type` as a config object, with `overrides` applied."""
    from transformers import AutoConfig

    import videozoo  # noqa: F401  (registers the architectures)

    return AutoConfig.for_model(model_type, **{**TINY_CONFIGS[model_type], **overrides})


def _tiny_mmt_processor(directory):
    from videozoo.processors import MMTProcessor

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "man", "dog", "is", "cooking", "runs", "the"]
    words += [f"w{i}" for i in range(99 - len(words))]
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n")
    config = TINY_CONFIGS["mmt"]
    return MMTProcessor.from_vocab_file(
        vocab, config["expert_names"], config["expert_feature_sizes"], max_text_tokens=9, max_feature_tokens=5
    )


def _tiny_masking_processor(directory):
    processor = _tiny_mmt_processor(directory)
    video = TINY_CONFIGS["mmt_modality_masking"]["video_config"]
    processor.feature_extractor.expert_names = video["expert_names"]
    processor.feature_extractor.expert_feature_sizes = video["expert_feature_sizes"]
    return processor


def _tiny_avlnet_processor(directory):
    from videozoo.processors import AVLnetFeatureExtractor, AVLnetProcessor

    return AVLnetProcessor(AVLnetFeatureExtractor(num_mel_bins=12, max_frames=64), max_words=5, word_embedding_size=11)


def _tiny_bmt_processor(directory):
    from videozoo.processors import BMTProcessor

    return BMTProcessor.from_captions(
        ["a dog barks loudly .", "a cat purrs quietly"], audio_feature_size=12, video_feature_size=20
    )


def _tiny_mdvc_processor(directory):
    from videozoo.processors import MDVCProcessor

    return MDVCProcessor.from_captions(
        ["a dog barks loudly .", "a cat purrs quietly"],
        ["so um the dog", "okay now"],
        audio_feature_size=12,
        video_feature_size=20,
    )


def _tiny_everything_at_once_processor(directory):
    from videozoo.processors import AVLnetFeatureExtractor, EverythingAtOnceProcessor

    return EverythingAtOnceProcessor(
        AVLnetFeatureExtractor(num_mel_bins=12, max_frames=64), max_words=5, max_video_steps=6, word_embedding_size=11
    )


def _tiny_avatar_processor(directory):
    from videozoo.processors import AvatarFeatureExtractor, AvatarProcessor, AvatarVideoProcessor
    from videozoo.processors.processing_avatar import write_vocab

    words = ["the", "a", "man", "cuts", "onion", "don", "'", "t", "play", "##ing", "##s", "stop", "ok"]
    words += [f"w{i}" for i in range(99 - 5 - len(words))]
    vocab = write_vocab(words, directory / "vocab.txt")
    config = TINY_CONFIGS["avatar"]
    extractor = AvatarFeatureExtractor(num_mel_bins=config["num_mel_bins"], max_frames=config["max_audio_frames"])
    frames = AvatarVideoProcessor(num_frames=config["num_frames"], size=36, crop_size=config["image_size"])
    return AvatarProcessor.from_vocab_file(vocab, extractor, frames, max_target_tokens=12)


def _tiny_sparsesync_processor(directory):
    from videozoo.processors import SparseSyncFeatureExtractor, SparseSyncProcessor

    return SparseSyncProcessor(
        SparseSyncFeatureExtractor(),
        clip_length_sec=0.64,
        crop_size=32,
        resize_shorter_side=32,
        num_offset_classes=5,
        max_offset_sec=0.4,
    )


def _tiny_specvqgan_processor(directory):
    from videozoo.processors import SpecVQGANFeatureExtractor, SpecVQGANProcessor

    extractor = SpecVQGANFeatureExtractor(feature_size=16, pad_to_seconds=0.5, max_frames=40, crop_frames=10)
    return SpecVQGANProcessor(extractor, num_features=3, feature_length=11, feature_crop_length=9, feature_size=20)


# model_type -> function(directory: Path) building a small processor (tokenizer files may be written there).
TINY_PROCESSORS = {
    "mmt": _tiny_mmt_processor,
    "mmt_modality_masking": _tiny_masking_processor,
    "avlnet": _tiny_avlnet_processor,
    "bmt": _tiny_bmt_processor,
    "mdvc": _tiny_mdvc_processor,
    "everything_at_once": _tiny_everything_at_once_processor,
    "avatar": _tiny_avatar_processor,
    "sparsesync": _tiny_sparsesync_processor,
    "specvqgan": _tiny_specvqgan_processor,
    "specvqgan_sampler": _tiny_specvqgan_processor,
}
