"""Retrieval metrics from two embedding sets, block by block, against the matrix product of the same size.

Prints, for each size, the time of `retrieval_metrics_from_embeddings` (ranks in both directions, ties averaged,
never the whole similarity matrix) beside the time of the one matrix product `text @ video.T` measured in the same
run, and the peak resident memory of a fresh process doing only that evaluation, beside the memory of the
embeddings themselves:

    python scripts/benchmark_retrieval.py                          # 10^4 x 10^4, then 10^5 and 10^6 captions
    python scripts/benchmark_retrieval.py --sizes 10000x10000 --dim 512

A size `CxV` is C captions over V videos (C / V captions per video). The 10^6 case scores 10^6 captions against
10^5 videos: a square 10^6 x 10^6 evaluation is 10^12 scores, hours of matrix products on a 2-core CPU, while its
memory is the same as here (the working set is `--max_block_elements` scores).
"""

import argparse
import multiprocessing
import resource
import time

import torch

from videozoo.metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings


def _embeddings(captions: int, videos: int, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    video = torch.nn.functional.normalize(torch.randn(videos, dim, generator=generator), dim=-1)
    gt = torch.arange(captions) % videos
    text = torch.nn.functional.normalize(video[gt] + 0.7 * torch.randn(captions, dim, generator=generator), dim=-1)
    return text, video, gt


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _measure(captions: int, videos: int, dim: int, budget: int, repeats: int, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    text, video, gt = _embeddings(captions, videos, dim)
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    metrics = {}

    def evaluate():
        metrics.update(retrieval_metrics_from_embeddings(text, video, gt, max_block_elements=budget))

    seconds = _best_of(evaluate, repeats)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    matmul = _best_of(lambda: text @ video.T, repeats) if captions * videos <= 10**8 else None
    queue.put((seconds, matmul, baseline_rss, peak_rss, metrics["t2v_R1"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000x10000,100000x100000,1000000x100000", help="CxV,CxV,...")
    parser.add_argument("--dim", type=int, default=256, help="embedding width")
    parser.add_argument("--max_block_elements", type=int, default=1 << 24, help="scores held at once")
    parser.add_argument("--repeats", type=int, default=3, help="best of N (the two largest sizes: 1)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    sizes = []
    for size in args.sizes.split(","):
        try:
            captions, videos = (int(part) for part in size.lower().split("x"))
        except ValueError as error:
            raise SystemExit(f"--sizes: {size!r} is not CxV (e.g. 10000x10000)") from error
        if captions <= 0 or videos <= 0:
            raise SystemExit(f"--sizes: {size!r} must be positive")
        sizes.append((captions, videos))

    print(f"dim {args.dim}, {args.max_block_elements:,} scores per block, {args.threads} threads, fp32 CPU")
    context = multiprocessing.get_context("fork")
    for captions, videos in sizes:
        repeats = args.repeats if captions * videos <= 10**8 else 1
        queue = context.Queue()
        process = context.Process(
            target=_measure, args=(captions, videos, args.dim, args.max_block_elements, repeats, args.threads, queue)
        )
        process.start()
        seconds, matmul, baseline_rss, peak_rss, r1 = queue.get()
        process.join()
        embeddings_gib = (captions + videos) * args.dim * 4 / 2**30
        line = f"{captions:>9,} captions x {videos:>9,} videos: {seconds:8.2f} s"
        if matmul is not None:
            line += f" = {seconds / matmul:.2f}x the {matmul:.2f} s matrix product"
        line += (
            f"; peak RSS {peak_rss:.2f} GiB (embeddings {embeddings_gib:.2f} GiB, process before the evaluation "
            f"{baseline_rss:.2f} GiB; the whole matrix would be {captions * videos * 4 / 2**30:,.1f} GiB);"
            f" t2v R@1 {r1:.1f}"
        )
        print(line, flush=True)


if __name__ == "__main__":
    main()
