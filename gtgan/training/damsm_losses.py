"""DAMSM's matching losses (Xu et al. 2018, eq. 7-13; AttnGAN code/miscc/losses.py).

Within a batch of n (image, caption) pairs, every caption is scored against every image, and
a softmax over the batch asks each image to pick its own caption and each caption its own
image (two cross-entropies per level). Pairs of the same class other than the true one are
masked out (-inf), as AttnGAN does: another picture of the same species may fit as well.

- Sentence level: score(image j, caption i) = gamma3 * cos(global image feature j, sentence i).
- Word level: for caption i against image j, each word attends over the image's regions:
  dot products of region and word features, a softmax over the caption's words (per region),
  then gamma1 times that and a softmax over the regions give the region context c_t of word t;
  R(c_t, e_t) = cos(c_t, e_t); score = gamma3 * log(sum_t exp(gamma2 * R(c_t, e_t))).
gamma1 = 4, gamma2 = 5, gamma3 = 10 (AttnGAN's cfg/DAMSM/bird.yml).

AttnGAN loops over captions; here all n x n pairs are computed at once (the test compares
with a literal per-caption loop). Padding words past a caption's length take no part.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Gammas:
    gamma1: float = 4.0  # attention sharpness over regions
    gamma2: float = 5.0  # how much the best-matched words dominate the caption's score
    gamma3: float = 10.0  # softmax temperature over the batch


def class_mask(class_ids: torch.Tensor) -> torch.Tensor:
    """(n, n) True where i != j are of the same class (masked pairs)."""
    same = class_ids[:, None] == class_ids[None, :]
    return same & ~torch.eye(len(class_ids), dtype=torch.bool, device=class_ids.device)


def _matching_loss(scores: torch.Tensor, class_ids: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """scores[image j, caption i] -> (image-to-caption CE, caption-to-image CE)."""
    if class_ids is not None:
        scores = scores.masked_fill(class_mask(class_ids), NEG_INF)
    labels = torch.arange(scores.shape[0], device=scores.device)
    return F.cross_entropy(scores, labels), F.cross_entropy(scores.t(), labels)


def sentence_scores(image_code: torch.Tensor, sentence: torch.Tensor, gamma3: float) -> torch.Tensor:
    """(n, n) gamma3 * cosine(image j, sentence i)."""
    img = F.normalize(image_code.float(), dim=1, eps=1e-8)
    sen = F.normalize(sentence.float(), dim=1, eps=1e-8)
    return gamma3 * img @ sen.t()


def word_scores(regions: torch.Tensor, words: torch.Tensor, lengths: torch.Tensor,
                g: Gammas) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores (n images, n captions) with gamma3 applied, attention (n cap, n img, T, L)).

    regions (n, d, h, w); words (n, d, T) with entries past lengths[i] ignored."""
    n, d = regions.shape[:2]
    context = regions.float().reshape(n, d, -1)  # (n_img, d, L)
    words = words.float()
    T = words.shape[2]
    valid = torch.arange(T, device=words.device)[None, :] < lengths.to(words.device)[:, None]  # (n_cap, T)
    # raw[i, j, l, t] = <region l of image j, word t of caption i>
    raw = torch.einsum("jdl,idt->ijlt", context, words)
    attn = raw.masked_fill(~valid[:, None, None, :], NEG_INF).softmax(dim=3)  # over words
    attn = (g.gamma1 * attn).softmax(dim=2)  # over regions, per word
    # The region context c = context_j @ attn is never formed (n x n x d x T): <c, e_t> is
    # sum_l attn * raw, and |c|^2 = attn^T G_j attn with G_j the regions' Gram matrix.
    dot = (attn * raw).sum(dim=2)  # (n_cap, n_img, T)
    gram = torch.einsum("jdl,jdm->jlm", context, context)
    c_sq = torch.einsum("ijlt,jlm,ijmt->ijt", attn, gram, attn).clamp_min(1e-16)
    norms = c_sq.sqrt() * words.norm(dim=1)[:, None, :]
    cos = dot / norms.clamp_min(1e-8)  # AttnGAN's cosine_similarity: w12 / (w1 w2).clamp(eps)
    cos = (g.gamma2 * cos).masked_fill(~valid[:, None, :], NEG_INF)
    score = torch.logsumexp(cos, dim=2)  # log sum_t exp(gamma2 R)
    return g.gamma3 * score.t(), attn.transpose(2, 3)


def damsm_losses(regions: torch.Tensor, image_code: torch.Tensor, words: torch.Tensor,
                 sentence: torch.Tensor, lengths: torch.Tensor, class_ids: torch.Tensor | None,
                 g: Gammas = Gammas()) -> dict[str, torch.Tensor]:
    """w_loss0 + w_loss1 + s_loss0 + s_loss1 (AttnGAN's total) and its parts."""
    w_scores, _ = word_scores(regions, words, lengths, g)
    w0, w1 = _matching_loss(w_scores, class_ids)
    s0, s1 = _matching_loss(sentence_scores(image_code, sentence, g.gamma3), class_ids)
    return {"loss": w0 + w1 + s0 + s1, "w_loss0": w0, "w_loss1": w1, "s_loss0": s0, "s_loss1": s1}


def generated_matching_loss(image_net: torch.nn.Module, images: torch.Tensor, features,
                            class_ids: torch.Tensor | None, g: Gammas = Gammas()) -> torch.Tensor:
    """AttnGAN's DAMSM loss on generated pictures (its generator_loss: words_loss +
    sentence_loss of the last stage's images against their own captions): the frozen DAMSM
    image encoder reads `images`; `features` are the captions' TextFeatures from the same
    DAMSM (sentence vectors and masked word features)."""
    if features.words is None:
        raise ValueError("loss.damsm_match needs the captions' word features (a DAMSM text "
                         "encoder's TextFeatures.words); this batch has sentence vectors only")
    regions, code = image_net(images)
    words = features.words.transpose(1, 2)  # (n, d, T), as the DAMSM's text net gives them
    lengths = features.mask.sum(1).clamp_min(1)
    return damsm_losses(regions, code, words, features.sentence, lengths, class_ids, g)["loss"]
