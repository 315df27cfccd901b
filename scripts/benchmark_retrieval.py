"""Retrieval metrics from two embedding sets, block by block, against the matrix product of the same size.

    python scripts/benchmark_retrieval.py                                  # 10^4 x 10^4, then 10^5 and 10^6 captions
    python scripts/benchmark_retrieval.py --sizes 10000x10000 --repeats 5 --threads 1
    python scripts/benchmark_retrieval.py --sizes 10000x10000 --mmt        # MMT's per-expert weighted similarity

A size `CxV` is C captions (queries) over V videos. Each size runs in a fresh process:
1. one evaluation alone, for its time and the peak resident memory of the process (beside the memory the process
   held before it, embeddings included, and what the whole similarity matrix would take);
2. where the whole matrix fits in `--max_matrix_gib`, `--repeats` rounds of [the one matrix product
   `text @ video.T` (MMT: `compute_similarity` on the whole sets), the evaluation], interleaved so that both see
   the same load; printed: the median over rounds of evaluation / product, in wall-clock time and in CPU time of
   the process (the CPU-time ratio is the one to trust on a machine shared with other work);
3. every size: the evaluation's rate in scores per CPU-second, and the CPU time a square 10^6 x 10^6 evaluation
   (10^12 scores) would take at that rate (divide by the threads for the wall time of an unloaded machine).

The default 10^6 case scores 10^6 captions against 10^4 videos: a square 10^6 x 10^6 evaluation is 10^12 scores,
hours of matrix products on a 2-core CPU, while its working memory is the same block (docs/retrieval_at_scale.md).
"""

import argparse
import multiprocessing
import resource
import statistics
import time

import torch

from videozoo.metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from videozoo.modeling.modeling_mmt import MMTModel

GIB = 2**30


def _embeddings(captions: int, videos: int, dim: int, experts: int):
    """Unit-norm synthetic embeddings, each caption a noisy copy of its video's (C / V captions per video)."""
    generator = torch.Generator().manual_seed(0)
    shape = (experts, dim) if experts else (dim,)
    video = torch.nn.functional.normalize(torch.randn(videos, *shape, generator=generator), dim=-1)
    gt = torch.arange(captions) % videos
    text = torch.empty(captions, *shape)
    for start in range(0, captions, 65536):  # no caption-sized temporaries
        end = min(start + 65536, captions)
        noise = torch.randn(end - start, *shape, generator=generator)
        text[start:end] = torch.nn.functional.normalize(video[gt[start:end]] + 0.7 * noise, dim=-1)
    weights = torch.softmax(torch.randn(captions, experts, generator=generator), dim=-1) if experts else None
    return text, video, gt, weights


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _measure(size, args, queue) -> None:
    captions, videos = size
    torch.set_num_threads(args.threads)
    experts = args.experts if args.mmt else 0
    text, video, gt, weights = _embeddings(captions, videos, args.dim, experts)
    before_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if args.mmt:
        availability = torch.ones(videos, experts)

        def product():
            return MMTModel.compute_similarity(text, weights, video, availability, False)

        def similarity(c, v):
            return MMTModel.compute_similarity(text[c], weights[c], video[v], availability[v], False)

    else:

        def product():
            return text @ video.T

        similarity = None
    metrics = {}

    def evaluate():
        metrics.update(retrieval_metrics_from_embeddings(text, video, gt, similarity=similarity))

    first = _timed(evaluate)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rounds = []
    if captions * videos * 4 / GIB <= args.max_matrix_gib:
        for _ in range(args.repeats):
            matmul = _timed(product)
            ranks = _timed(evaluate)
            rounds.append((matmul, ranks))
    queue.put((first, before_gib, peak_gib, rounds, metrics["t2v_R1"], metrics["v2t_R1"]))


def _sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for size in text.split(","):
        try:
            captions, videos = (int(part) for part in size.lower().split("x"))
        except ValueError as error:
            raise SystemExit(f"--sizes: {size!r} is not CxV (e.g. 10000x10000)") from error
        if captions <= 0 or videos <= 0:
            raise SystemExit(f"--sizes: {size!r} must be positive")
        sizes.append((captions, videos))
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000x10000,100000x100000,1000000x10000", help="CxV,CxV,...")
    parser.add_argument("--dim", type=int, default=256, help="embedding width (MMT: per expert)")
    parser.add_argument("--mmt", action="store_true", help="MMT's per-expert weighted similarity")
    parser.add_argument("--experts", type=int, default=7, help="MMT experts (--mmt)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds where the matrix fits")
    parser.add_argument("--max_matrix_gib", type=float, default=1.0, help="largest whole matrix for the baseline")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    sizes = _sizes(args.sizes)
    if args.repeats < 1 or args.threads < 1:
        raise SystemExit("--repeats and --threads must be at least 1")

    width = f"{args.experts} experts x {args.dim}" if args.mmt else f"{args.dim}"
    print(f"dim {width}, {args.threads} thread(s), float32 CPU")
    context = multiprocessing.get_context("spawn")
    for captions, videos in sizes:
        queue = context.Queue()
        process = context.Process(target=_measure, args=((captions, videos), args, queue))
        process.start()
        (wall, cpu), before_gib, peak_gib, rounds, t2v_r1, v2t_r1 = queue.get()
        process.join()
        scores = captions * videos
        print(
            f"{captions:>9,} captions x {videos:>7,} videos: {wall:8.2f} s wall, {cpu:8.2f} s CPU, "
            f"{scores / cpu / 1e6:,.0f} M scores per CPU-second -> 10^6 x 10^6 in {1e12 / scores * cpu / 3600:.1f} "
            "CPU-hours; "
            f"peak RSS {peak_gib:.2f} GiB (before the evaluation {before_gib:.2f} GiB, the whole matrix would be "
            f"{scores * 4 / GIB:,.1f} GiB); t2v R@1 {t2v_r1:.2f}, v2t R@1 {v2t_r1:.2f}",
            flush=True,
        )
        if rounds:
            wall_ratio = statistics.median(r[1][0] / r[0][0] for r in rounds)
            cpu_ratio = statistics.median(r[1][1] / r[0][1] for r in rounds)
            products = ", ".join(f"{r[0][0]:.2f}/{r[0][1]:.2f}" for r in rounds)
            evaluations = ", ".join(f"{r[1][0]:.2f}/{r[1][1]:.2f}" for r in rounds)
            print(
                f"    evaluation / matrix product, median of {len(rounds)}: {wall_ratio:.2f}x wall, "
                f"{cpu_ratio:.2f}x CPU (product wall/CPU s: {products}; evaluation: {evaluations})",
                flush=True,
            )


if __name__ == "__main__":
    main()
