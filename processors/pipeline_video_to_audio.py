"""`video-to-audio`: a waveform for a silent video (SpecVQGAN), over visual features.

    from transformers import pipeline

    v2a = pipeline("video-to-audio", model="<sampler repo>", trust_remote_code=True, vocoder=melgan)
    v2a({"visual_features": resnet50_features})  # {"waveform": [...], "sampling_rate": 22050}

The sampler draws the spectrogram codes from the visual features (`generate`: top-k sampling, or arg-max with
`do_sample=False`; the paper's VAS sampler reads 215 ResNet-50 vectors at 21.5 fps), decodes them with its
codebook, `SpecVQGANProcessor.post_process` brings the spectrogram to the vocoder's [0, 1] scale, and the MelGAN
vocoder (`vocoder=`, a `MelGANVocoder`: a separate checkpoint, so given as an instance) turns it into a waveform at
its `sampling_rate`. Features of raw video come from `feature_hook` (`path -> {"visual_features": ...}`), where the
ResNet-50 extractor plugs in; without it a path gets a message saying features are needed.
"""

from pathlib import Path

import numpy as np

from .pipeline_base import PipelineInputError, VideozooPipeline


class VideoToAudioPipeline(VideozooPipeline):
    """Visual features (or a path through `feature_hook`) -> `{"waveform", "sampling_rate"}`.

    Parameters: `do_sample` (True), `top_k` (None: every logit), `temperature` (1.0), `return_spectrogram` (False).
    Seed `torch.manual_seed` before the call for reproducible samples.
    """

    supported_model_types = ("specvqgan_sampler",)
    forward_params = ("do_sample", "top_k", "temperature")
    postprocess_params = ("return_spectrogram",)
    card_example = (
        "# vocoder: a MelGANVocoder; resnet50_features: (frames, 2048) of the video (videozoo's docs/pipelines.md)",
        'answer = pipe({"visual_features": resnet50_features})',
    )

    def __init__(self, *args, vocoder=None, feature_hook=None, **kwargs):
        super().__init__(*args, **kwargs)
        if vocoder is None:
            raise ValueError("video-to-audio needs a vocoder: pass vocoder=<MelGANVocoder> to the pipeline")
        self.vocoder = vocoder.eval().to(self.device)
        self.feature_hook = feature_hook

    def check_input(self, item, name: str):
        if isinstance(item, (str, Path)):
            if self.feature_hook is None:
                raise PipelineInputError(
                    f"{name}: raw video needs the visual feature extractor; give {{'visual_features': (frames, dim)}} "
                    "or pass feature_hook=<path -> features dict> to the pipeline"
                )
            return item
        if not isinstance(item, dict) or item.get("visual_features") is None:
            raise PipelineInputError(f"{name}: give a dict with 'visual_features' (frames, dim) or a path")
        return item

    def preprocess(self, item, name="input"):
        if isinstance(item, (str, Path)):
            item = self.check_input(self.feature_hook(item), name)
        try:
            inputs = self.processor(visual_features=[np.asarray(item["visual_features"], dtype=np.float32)])
        except ValueError as error:
            raise PipelineInputError(f"{name}: {error}") from error
        return [{"visual_features": inputs["visual_features"][0]}], None

    def _forward(self, batch, do_sample=True, top_k=None, temperature=1.0):
        out = self.model.generate(
            batch["visual_features"], do_sample=do_sample, top_k=top_k, temperature=temperature, decode=True
        )
        spectrogram = self.processor.post_process(out.spectrogram)
        if spectrogram.dim() == 4:  # (B, 1, mel, frames) -> (B, mel, frames)
            spectrogram = spectrogram[:, 0]
        return {
            "waveform": self.vocoder(spectrogram).waveform.reshape(len(spectrogram), -1),
            "spectrogram": spectrogram,
        }

    def postprocess(self, outputs, context=None, return_spectrogram=False):
        (output,) = outputs
        answer = {"waveform": output["waveform"].float(), "sampling_rate": int(self.vocoder.config.sampling_rate)}
        if return_spectrogram:
            answer["spectrogram"] = output["spectrogram"].float()
        return answer


__all__ = ["VideoToAudioPipeline"]
