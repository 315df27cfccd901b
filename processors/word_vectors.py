"""Word vectors from local word2vec / GloVe files (never downloaded), and captions turned into word-vector slots."""

import re
import struct
from pathlib import Path

import numpy as np
import torch

from .validation import require_text


def load_word_vectors(path: str | Path) -> dict[str, np.ndarray]:
    """word2vec / GloVe vectors from a local file, text (`word v1 ... vD`, optional `count dim` header) or word2vec
    binary format. Nothing is downloaded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"word vectors not found at {path} (a local word2vec/GloVe text or binary file is required)"
        )
    with path.open("rb") as handle:
        head = handle.readline()
        parts = head.split()
        binary = len(parts) == 2 and all(p.isdigit() for p in parts) and not path.suffix == ".txt"
        vectors: dict[str, np.ndarray] = {}
        if binary:
            count, dim = int(parts[0]), int(parts[1])
            for _ in range(count):
                word = bytearray()
                while (char := handle.read(1)) not in (b" ", b""):
                    if char != b"\n":
                        word += char
                data = handle.read(4 * dim)
                if len(data) < 4 * dim:
                    raise ValueError(f"{path}: truncated word2vec binary file")
                vectors[word.decode("utf-8", errors="replace")] = np.array(struct.unpack(f"{dim}f", data), np.float32)
            return vectors
        lines = [] if len(parts) == 2 and all(p.isdigit() for p in parts) else [head]
        lines += handle.readlines()
    for number, line in enumerate(lines, 1):
        fields = line.decode("utf-8", errors="replace").rstrip().split(" ")
        if len(fields) < 2:
            continue
        try:
            vectors[fields[0]] = np.array(fields[1:], np.float32)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: not a word-vector line") from error
    if not vectors:
        raise ValueError(f"{path} holds no word vectors")
    return vectors


def embed_words(
    texts, vectors: dict[str, np.ndarray] | None, max_words: int, dim: int, lowercase: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions -> (`(batch, max_words, dim)` vectors of the words (`[\\w']+` tokens, lower-cased unless told
    otherwise) found in the vocabulary, in order, zero rows after; `(batch, max_words)` mask)."""
    if vectors is None:
        raise ValueError("no word vectors loaded: call processor.load_word_vectors(<local word2vec or GloVe file>)")
    texts = require_text("text", texts)
    out, mask = torch.zeros(len(texts), max_words, dim), torch.zeros(len(texts), max_words, dtype=torch.long)
    for row, text in enumerate(texts):
        text = text.lower() if lowercase else text
        words = [w for w in re.findall(r"[\w']+", text) if w in vectors][:max_words]
        for slot, word in enumerate(words):
            out[row, slot] = torch.from_numpy(vectors[word])
            mask[row, slot] = 1
    return out, mask


def word_vector_matrix(path: str | Path, words, dim: int) -> np.ndarray:
    """`(len(words), dim)` float32 rows of a local GloVe text file for `words`, read line by line (only the rows
    asked for are kept, so the 5 GB `glove.840B.300d.txt` fits in memory). Each line is split from the right, as a
    token may contain spaces (840B has some); a word is looked up with surrounding spaces stripped; words absent
    from the file get zeros (torchtext's behaviour)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word vectors not found at {path} (a local GloVe text file is required)")
    words = list(words)
    index: dict[str, list[int]] = {}
    for row, word in enumerate(words):
        index.setdefault(str(word).strip(), []).append(row)
    matrix = np.zeros((len(words), dim), dtype=np.float32)
    found = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r").rsplit(" ", dim)
            if len(fields) != dim + 1:
                if number == 1 and len(line.split()) == 2:  # word2vec-style "count dim" header
                    continue
                raise ValueError(f"{path}:{number}: expected a token and {dim} numbers")
            rows = index.get(fields[0])
            if rows is None:
                continue
            try:
                vector = np.asarray(fields[1:], dtype=np.float32)
            except ValueError as error:
                raise ValueError(f"{path}:{number}: not a word-vector line") from error
            matrix[rows] = vector
            found += 1
    if found == 0:
        raise ValueError(f"{path}: none of the {len(index)} words was found (is it a {dim}-d GloVe text file?)")
    return matrix


__all__ = ["embed_words", "load_word_vectors", "word_vector_matrix"]
