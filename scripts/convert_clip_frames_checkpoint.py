"""Turn a local transformers CLIP checkpoint into a CLIP frame extractor (`clip_frames`) with its processor.

    python scripts/convert_clip_frames_checkpoint.py --clip_model clip-vit-base-patch32 --output_dir clip-frames \
        --extraction_fps 1
    python scripts/extract_features.py --extractor clip --model clip-frames --videos videos/*.mp4 --output_dir clip

`--clip_model` is a folder holding a transformers `CLIPModel` or `CLIPVisionModelWithProjection` checkpoint
(`config.json` + safetensors, e.g. a local copy of openai/clip-vit-base-patch32: nothing is downloaded); its image
tower and projection are kept under the same parameter names, the text tower is dropped. OpenAI's own `.pt` files
(TorchScript archives) are not read. The output folder is written atomically (docs/feature_extractors.md, "CLIP
frame features").
"""

import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip_model", required=True, help="a local transformers CLIP checkpoint folder")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--extraction_fps", type=float, help="frames per second (default: every frame)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from videozoo.arguments import folder_problem, output_folder_problem, positive_problem, raise_if_any
    from videozoo.conversion import save_converted
    from videozoo.modeling.modeling_clip_frames import CLIPFramesModel
    from videozoo.processors.processing_clip_frames import CLIPFramesProcessor

    args = parse_args(argv)
    try:
        raise_if_any(
            [
                folder_problem("--clip_model", args.clip_model, required=True),
                output_folder_problem("--output_dir", args.output_dir),
                positive_problem("--extraction_fps", args.extraction_fps),
            ]
        )
        model = CLIPFramesModel.from_clip_checkpoint(args.clip_model, extraction_fps=args.extraction_fps)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    save_converted(args.output_dir, model, CLIPFramesProcessor.from_model_config(model.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
