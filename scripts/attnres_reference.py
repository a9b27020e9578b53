#!/usr/bin/env python3
"""NumPy reference of Block Attention Residuals (docs/design.md).

    block_attn_res(sources, query, key_norm_weight, eps)
        one aggregation: softmax over depth of w . RMSNorm(v_i)
    depth_logits(sources, query, key_norm_weight, eps)
        its logits w . RMSNorm(v_i), [n, ...]
    partition(layers, blocks)
        the Block AttnRes partition of L layers into N blocks, written here
        from the paper's definition (blocks of S = L/N consecutive layers)
    block_sizes(layers, blocks)
        the same partition as the compiler states it (the first L mod N
        blocks get ceil(L/N)), for the fixture generators
    block_attnres_forward(embedding, layers, final, queries, key_norms,
                          sizes, eps)
        a whole stream: `layers` is a list of (norm, sublayer) callables,
        `final` the final norm; returns final(aggregate of all blocks)
    standard_forward(embedding, layers, final)
        the PreNorm residual stream it replaces

The formulas, for layer l in block n (b_0 is the embedding, b_1..b_{n-1}
the completed block sums, p the partial sum of block n so far, absent for
the block's first layer):

    V = [b_0, .., b_{n-1}, p]
    logits_i = query_l . rms_norm(V_i, key_norm_l, eps)
    h_l = sum_i softmax(logits)_i V_i
    out_l = sublayer_l(norm_l(h_l));  p = p + out_l

scripts/make_attnres_fixtures.py checks its PyTorch models against this
module, and test/Integration/residual-to-block/numpy-reference.test runs
it as the oracle of the rewrite on a hand-written MLIR stream.
"""

import numpy as np


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def depth_logits(sources, query, key_norm_weight, eps):
    v = np.stack(sources)                                  # [n, ..., D]
    return np.einsum("d,n...d->n...", query,
                     rms_norm(v, key_norm_weight, eps))    # [n, ...]


def block_attn_res(sources, query, key_norm_weight, eps):
    v = np.stack(sources)
    logits = depth_logits(sources, query, key_norm_weight, eps)
    logits = logits - logits.max(axis=0, keepdims=True)
    alpha = np.exp(logits)
    alpha = alpha / alpha.sum(axis=0, keepdims=True)
    return np.einsum("n...,n...d->...d", alpha, v)


def partition(layers, blocks):
    """The number of layers in each of the N = `blocks` blocks (0: N = L,
    Full AttnRes).

    The paper partitions the L layers into N blocks of S = L/N consecutive
    layers. Where N does not divide L the blocks cannot be equal;
    docs/design.md makes them as equal as possible, the larger first.
    This deals the layers out to the blocks one at a time, in turn, and
    then lets each block take its share of consecutive layers: sizes that
    differ by at most one, the larger ones first, S each when N divides L.
    It is written independently of block_sizes() below (the compiler's
    closed form, which the fixture generators import), so that the oracle
    does not inherit a mistake in the rule it checks; partition.test checks
    that the two agree."""
    if blocks == 0:
        blocks = layers
    if not 0 < blocks <= layers:
        raise ValueError(f"cannot split {layers} layers into {blocks} "
                         f"blocks")
    sizes = [0] * blocks
    for layer in range(layers):
        sizes[layer % blocks] += 1
    return sizes


def block_sizes(layers, blocks):
    # The compiler's rule (ResidualToBlock.cpp, partition()), imported by
    # scripts/make_attnres_fixtures.py, make_attnres_raise_fixtures.py and
    # compare_rewrite.py; the oracle's own is partition() above.
    blocks = blocks or layers
    return [layers // blocks + (1 if i < layers % blocks else 0)
            for i in range(blocks)]


def block_attnres_forward(embedding, layers, final, queries, key_norms,
                          sizes, eps=1e-6, store=None):
    """`store`, when given, is applied to every aggregation's result and
    every partial sum: the rounding of a model that keeps its tensors in a
    narrower format (the layers' callables round their own results)."""
    assert sum(sizes) == len(layers)
    assert queries.shape[0] == key_norms.shape[0] == len(layers) + 1
    store = store or (lambda x: x)
    blocks = [embedding]
    index = 0
    for size in sizes:
        partial = None
        for _ in range(size):
            norm, sublayer = layers[index]
            sources = blocks + ([partial] if partial is not None else [])
            h = store(block_attn_res(sources, queries[index],
                                     key_norms[index], eps))
            out = sublayer(norm(h))
            partial = out if partial is None else store(partial + out)
            index += 1
        blocks.append(partial)
    return final(store(block_attn_res(blocks, queries[-1], key_norms[-1],
                                      eps)))


def standard_forward(embedding, layers, final):
    h = embedding
    for norm, sublayer in layers:
        h = h + sublayer(norm(h))
    return final(h)
