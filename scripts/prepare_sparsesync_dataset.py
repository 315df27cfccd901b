"""Prepare clips for SparseSync as the reference does (`scripts/reencode_videos.py`, against the codec-artefact leak of
the thesis §5.3): every file is re-encoded once to 25 fps, shorter side 256 (even sizes), H.264 crf 10 yuv420p, AAC
16 kHz mono, keeping its path relative to the source folder. Files that cannot be decoded, lack a stream, are truncated
or are shorter than `--min_duration_sec` are skipped and listed (with the reason) in `<target>/bad_files.tsv`; the run
never stops halfway. Optionally writes the LRS3 split files (by YouTube video, 8:1:1, seed 1337), the fixed
evaluation offsets of the valid / test splits, and (`--decoded_cache_dir`) the clips decoded and resized as training
reads them, so that no epoch decodes again (`run_synchronisation.py train --decoded_cache_dir`,
docs/data_throughput.md).

    python scripts/prepare_sparsesync_dataset.py --source_dir data/lrs3/pretrain_originals \
        --target_dir data/lrs3/h264_uncropped_25fps_256side_16000hz_aac --min_duration_sec 9 --lrs3_splits \
        --fixed_offsets

Sources must not be MPEG-4 Part 2: its key-frame artefacts survive re-encoding and tell the crop position
(re-download H.264 / VP9 originals instead); such files are reported.
"""

import argparse
import glob
import sys
from pathlib import Path

import videozoo  # noqa: F401
from videozoo.arguments import exit_if_any, folder_problem, output_folder_problem, positive_problem
from videozoo.data.sparsesync import (
    DecodedClipCache,
    fixed_offsets_name,
    make_fixed_offsets,
    make_lrs3_split_files,
    prepare_clips,
    write_fixed_offsets,
)
from videozoo.processors import SparseSyncProcessor, load_clip


def _codec(path: str) -> str:
    import av

    try:
        with av.open(path) as container:
            return container.streams.video[0].codec_context.name if container.streams.video else ""
    except Exception:  # unreadable files are reported by the preparation itself
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source_dir", type=Path, required=True)
    parser.add_argument("--target_dir", type=Path, required=True)
    parser.add_argument("--pattern", default="**/*.mp4", help="glob of the sources under source_dir")
    parser.add_argument("--min_duration_sec", type=float, default=0.0, help="LRS3: 9 (the reference's filter)")
    parser.add_argument("--shorter_side", type=int, default=256)
    parser.add_argument("--crf", type=int, default=10)
    parser.add_argument("--max_duration_sec", type=float, default=None, help="keep at most this much of each clip")
    parser.add_argument("--allow_mpeg4", action="store_true", help="re-encode MPEG-4 Part 2 sources too")
    parser.add_argument("--lrs3_splits", action="store_true", help="write lrs3_{train,valid,test}.txt in target_dir")
    parser.add_argument("--fixed_offsets", action="store_true", help="write the valid/test fixed-offset tables")
    parser.add_argument("--num_offset_classes", type=int, default=21)
    parser.add_argument("--max_offset_sec", type=float, default=2.0)
    parser.add_argument("--clip_length_sec", type=float, default=5.0)
    parser.add_argument(
        "--decoded_cache_dir",
        type=Path,
        default=None,
        help="also decode every written clip (frames resized to --shorter_side) into this cache",
    )
    args = parser.parse_args(argv)
    problems = [
        folder_problem("--source_dir", args.source_dir, required=True),
        output_folder_problem("--target_dir", args.target_dir),
        output_folder_problem("--decoded_cache_dir", args.decoded_cache_dir) if args.decoded_cache_dir else None,
        positive_problem("--min_duration_sec", args.min_duration_sec, allow_zero=True),
        positive_problem("--max_duration_sec", args.max_duration_sec),
        positive_problem("--shorter_side", args.shorter_side),
        positive_problem("--max_offset_sec", args.max_offset_sec),
        positive_problem("--clip_length_sec", args.clip_length_sec),
    ]
    if not 0 <= args.crf <= 51:
        problems.append(f"--crf must be in [0, 51] (x264's range; got {args.crf})")
    if args.num_offset_classes < 2:
        problems.append(f"--num_offset_classes must be >= 2 (got {args.num_offset_classes})")
    if args.source_dir.resolve() == args.target_dir.resolve():
        problems.append("--target_dir must differ from --source_dir (the re-encoded clips would replace the sources)")
    exit_if_any(parser, problems)

    sources = sorted(glob.glob(str(args.source_dir / args.pattern), recursive=True))
    if not sources:
        parser.error(f"no file matches {args.source_dir / args.pattern}")
    rejected = []
    if not args.allow_mpeg4:
        kept = []
        for source in sources:
            (rejected if _codec(source) == "mpeg4" else kept).append(source)
        sources = kept
    report = prepare_clips(
        sources,
        args.source_dir,
        args.target_dir,
        min_duration_sec=args.min_duration_sec,
        shorter_side=args.shorter_side,
        crf=args.crf,
        max_duration_sec=args.max_duration_sec,
    )
    bad = report.bad + [
        (path, "MPEG-4 Part 2 video: its artefacts reveal the crop position (use --allow_mpeg4)") for path in rejected
    ]
    args.target_dir.mkdir(parents=True, exist_ok=True)
    (args.target_dir / "bad_files.tsv").write_text("".join(f"{path}\t{reason}\n" for path, reason in bad))
    print(
        f"re-encoded {len(report.written)} clips into {args.target_dir}; skipped {len(bad)} (listed in bad_files.tsv)"
    )
    ids = [str(Path(p).relative_to(args.target_dir).with_suffix("")) for p in report.written]
    if args.decoded_cache_dir is not None:
        cache = DecodedClipCache(
            args.decoded_cache_dir,
            SparseSyncProcessor(
                clip_length_sec=args.clip_length_sec,
                num_offset_classes=args.num_offset_classes,
                max_offset_sec=args.max_offset_sec,
                resize_shorter_side=args.shorter_side,
            ),
        )
        for path in report.written:
            cache.load(path)
        print(f"decoded {len(report.written)} clips into {cache.root}")
    if args.lrs3_splits:
        counts = make_lrs3_split_files(ids, args.target_dir)
        print(f"LRS3 splits by video: {counts}")
    if args.fixed_offsets:
        processor = SparseSyncProcessor(
            clip_length_sec=args.clip_length_sec,
            num_offset_classes=args.num_offset_classes,
            max_offset_sec=args.max_offset_sec,
        )
        for index, split in enumerate(("valid", "test")):
            split_file = args.target_dir / f"lrs3_{split}.txt"
            if not split_file.is_file():
                print(f"no {split_file}: fixed offsets for {split} not written")
                continue
            lengths = {}
            for clip_id in split_file.read_text().split():
                clip = load_clip(args.target_dir / f"{clip_id}.mp4", max_duration_sec=processor.clip_max_length_sec)
                lengths[clip_id] = (len(clip.frames), len(clip.waveform))
            table = make_fixed_offsets(lengths, processor, seed=1337 + 1 + index)
            path = write_fixed_offsets(
                args.target_dir / "fixed_offsets_lrs3" / fixed_offsets_name(split, processor), table
            )
            print(f"fixed offsets for {len(table)} {split} clips: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
