"""The reference beam search of AVATAR (scenic `projects/avatar/decode.py::beam_search`, from the Flax WMT example),
as a `custom_generate` callable for `AvatarForConditionalGeneration.generate`; see `avatar_beam_search`."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.utils import ModelOutput

NEG_INF = -1.0e7  # the reference's "effective negative infinity" of beam search


def gnmt_length_penalty(length: int, alpha: float) -> torch.Tensor:
    """The reference's brevity penalty `((5 + n) / 6) ** alpha` (Wu et al., 2016), in float32."""
    return torch.tensor((5.0 + length) / 6.0, dtype=torch.float32) ** alpha


def _top_k_ascending(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the `k` largest entries per row, in *ascending* order (best last), ties broken towards the lower
    index as `lax.top_k` does (a stable sort, so filler slots at -1e7 resolve exactly as in the reference)."""
    order = torch.sort(values, dim=-1, descending=True, stable=True).indices[:, :k]
    return order.flip(1)


def _gather_beams(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """`x[b, indices[b, j], ...]` for `x` of shape `[B, beams, ...]` and `indices` `[B, new_beams]`."""
    index = indices.reshape(*indices.shape, *([1] * (x.dim() - 2))).expand(*indices.shape, *x.shape[2:])
    return x.gather(1, index)


@dataclass
class AvatarBeamSearchOutput(ModelOutput):
    """Output of [`avatar_beam_search`] with `return_dict_in_generate=True`.

    Args:
        sequences: `[B * num_return_sequences, L]` best beams first (start token included, 0 after EOS).
        sequences_scores: `[B * num_return_sequences]` their scores (length-penalised log-probability for a
            finished beam; raw summed log-probability when an item finished no beam).
        beam_sequences: `[B, num_beams, L]` every returned beam in the reference's order (ascending score, best last).
        beam_scores: `[B, num_beams]` their scores (empty finished slots keep -1e7 and an all-zero sequence).
        finished: `[B]` whether the item returned its finished set (else its live beams).
    """

    sequences: torch.LongTensor | None = None
    sequences_scores: torch.FloatTensor | None = None
    beam_sequences: torch.LongTensor | None = None
    beam_scores: torch.FloatTensor | None = None
    finished: torch.BoolTensor | None = None


def avatar_beam_search(
    model,
    input_ids: torch.LongTensor,
    logits_processor=None,
    stopping_criteria=None,
    generation_config=None,
    **model_kwargs,
):
    """The reference beam search (scenic `avatar/decode.py::beam_search`, from the Flax WMT example), as a
    `custom_generate` callable: `model.generate(input_features=..., pixel_values=..., num_beams=4,
    length_penalty=0.6, max_length=128, custom_generate=avatar_beam_search)`.

    It differs from the built-in beam search: every step takes the top 2k continuations of all live beams; any of
    them ending in EOS enters the finished set with score `log p / ((5 + n) / 6) ** alpha` (`n` generated tokens,
    EOS included); the top k of the others stay live; the search stops at `max_length` or once no live beam can
    beat the worst finished one (`best live log p / ((5 + max_length) / 6) ** alpha`); an item with no finished
    beam returns its live beams with their raw log-probabilities. Everything runs on `[batch, beams]` tensors; the
    decoder self-attention cache is reordered by parent beam. `generate` has already run the encoder and repeated
    its output per beam. Logits processors, if any were configured, act on the per-step log-probabilities; other
    stopping criteria than `max_length` are not used (the reference has none).
    """
    config = generation_config
    k = config.num_beams
    alpha = 1.0 if config.length_penalty is None else float(config.length_penalty)
    max_length = config.max_length
    eos = config.eos_token_id
    eos = torch.tensor([eos] if isinstance(eos, int) else list(eos or []), device=input_ids.device)
    n_return = config.num_return_sequences or 1
    if n_return > k:
        raise ValueError(f"num_return_sequences ({n_return}) must not exceed num_beams ({k})")
    if input_ids.shape[0] % k:
        raise ValueError(f"input_ids has {input_ids.shape[0]} rows, not a multiple of num_beams ({k})")
    batch, prompt = input_ids.shape[0] // k, input_ids.shape[1]
    if prompt >= max_length:
        raise ValueError(f"max_length ({max_length}) must exceed the prompt length ({prompt})")
    device = input_ids.device
    encoder_outputs = model_kwargs["encoder_outputs"]
    use_cache = model_kwargs.get("use_cache", True) is not False
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache()) if use_cache else None

    live_seqs = torch.zeros(batch, k, max_length, dtype=torch.long, device=device)
    live_seqs[:, :, :prompt] = input_ids.view(batch, k, prompt)
    live_logp = torch.full((batch, k), NEG_INF, dtype=torch.float32, device=device)
    live_logp[:, 0] = 0.0
    fin_seqs = torch.zeros_like(live_seqs)
    fin_scores = torch.full((batch, k), NEG_INF, dtype=torch.float32, device=device)
    fin_flags = torch.zeros(batch, k, dtype=torch.bool, device=device)
    offsets = (torch.arange(batch, device=device) * k)[:, None]
    min_penalty = gnmt_length_penalty(max_length - prompt + 1, alpha).to(device)  # the reference: BP(max_decode_len)

    index = prompt - 1  # position of the last token of the live sequences
    while index < max_length - 1:
        if cache is not None:
            step_ids = live_seqs[:, :, : index + 1] if index == prompt - 1 else live_seqs[:, :, index : index + 1]
        else:
            step_ids = live_seqs[:, :, : index + 1]
        out = model(
            encoder_outputs=encoder_outputs,
            decoder_input_ids=step_ids.reshape(batch * k, -1),
            past_key_values=cache,
            use_cache=cache is not None,
        )
        log_probs = F.log_softmax(out.logits[:, -1].float(), dim=-1)
        if logits_processor:
            log_probs = logits_processor(live_seqs[:, :, : index + 1].reshape(batch * k, -1), log_probs)
        vocab = log_probs.shape[-1]
        log_probs = log_probs.view(batch, k, vocab) + live_logp[:, :, None]
        flat = log_probs.reshape(batch, k * vocab)
        candidates = torch.sort(flat, dim=-1, descending=True, stable=True).indices[:, : 2 * k]
        cand_logp = flat.gather(1, candidates)
        parents, tokens = candidates // vocab, candidates % vocab
        cand_seqs = _gather_beams(live_seqs, parents)
        cand_seqs[:, :, index + 1] = tokens
        newly_finished = torch.isin(tokens, eos)

        # live set: the best k candidates that did not just finish
        masked = cand_logp + newly_finished.to(torch.float32) * NEG_INF
        keep = _top_k_ascending(masked, k)
        live_seqs, live_logp = _gather_beams(cand_seqs, keep), masked.gather(1, keep)
        if cache is not None:
            cache.self_attention_cache.reorder_cache((offsets + parents.gather(1, keep)).reshape(-1))

        # finished set: merge the newly finished candidates (length-penalised) and keep the best k
        penalty = gnmt_length_penalty(index + 2 - prompt, alpha).to(device)
        scores = cand_logp / penalty + (~newly_finished).to(torch.float32) * NEG_INF
        all_seqs = torch.cat([fin_seqs, cand_seqs], dim=1)
        all_scores = torch.cat([fin_scores, scores], dim=1)
        all_flags = torch.cat([fin_flags, newly_finished], dim=1)
        best = _top_k_ascending(all_scores, k)
        fin_seqs, fin_scores, fin_flags = (
            _gather_beams(all_seqs, best),
            all_scores.gather(1, best),
            all_flags.gather(1, best),
        )
        index += 1

        best_live = live_logp[:, -1:] / min_penalty
        worst_finished = torch.where(fin_flags, fin_scores.min(dim=1, keepdim=True).values, NEG_INF)
        if bool((worst_finished > best_live).all()):
            break

    finished = fin_flags.any(dim=1)
    beam_sequences = torch.where(finished[:, None, None], fin_seqs, live_seqs)[:, :, : index + 1]
    beam_scores = torch.where(finished[:, None], fin_scores, live_logp)
    sequences = beam_sequences.flip(1)[:, :n_return].reshape(batch * n_return, -1)
    sequences_scores = beam_scores.flip(1)[:, :n_return].reshape(-1)
    if config.return_dict_in_generate:
        return AvatarBeamSearchOutput(
            sequences=sequences,
            sequences_scores=sequences_scores,
            beam_sequences=beam_sequences,
            beam_scores=beam_scores,
            finished=finished,
        )
    return sequences
