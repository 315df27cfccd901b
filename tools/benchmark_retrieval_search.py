"""Benchmark the video-text-retrieval collection (a `datasets` dataset + FAISS inner-product index) on synthetic
embeddings: build, save, load and search time, and the process's peak memory, at a given collection size.

    OMP_NUM_THREADS=1 .venv/bin/python tools/benchmark_retrieval_search.py --size 1000000 --dim 64 --queries 1000

The figures for docs/pipelines.md came from this script.
"""

import argparse
import json
import resource
import tempfile
import time

import numpy as np

from videozoo.processors.pipeline_retrieval import VideoCollection


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--top_k", type=int, default=10)
    args = parser.parse_args()
    if min(args.size, args.dim, args.queries, args.top_k) < 1:
        parser.error("--size, --dim, --queries and --top_k must be positive")
    report_rss = peak_rss_mib()  # after importing torch, transformers, datasets and faiss
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((args.size, args.dim), dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    ids = [f"video{i}" for i in range(args.size)]
    report = {"size": args.size, "dim": args.dim, "queries": args.queries, "top_k": args.top_k}
    report["rss_after_imports_mib"] = round(report_rss)
    start = time.perf_counter()
    collection = VideoCollection.from_embeddings(ids, embeddings)
    report["build_s"] = round(time.perf_counter() - start, 2)
    queries = embeddings[rng.integers(0, args.size, args.queries)] + 0.05 * rng.standard_normal(
        (args.queries, args.dim), dtype=np.float32
    )
    start = time.perf_counter()
    results = collection.search(queries, args.top_k)
    report["search_s"] = round(time.perf_counter() - start, 2)
    report["peak_rss_after_search_mib"] = round(peak_rss_mib())
    checked = min(args.queries, 100)  # exact top-1 by brute force for the first queries (bounded: 100 x size)
    exact = np.argmax(queries[:checked] @ embeddings.T, axis=1)
    report["top1_matches_exact"] = float(np.mean([r[0]["id"] == f"video{j}" for r, j in zip(results, exact)]))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        collection.save(f"{folder}/collection")
        report["save_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        loaded = VideoCollection.load(f"{folder}/collection")
        loaded.search(queries[:10], args.top_k)
        report["load_and_search10_s"] = round(time.perf_counter() - start, 2)
    report["peak_rss_mib"] = round(peak_rss_mib())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
