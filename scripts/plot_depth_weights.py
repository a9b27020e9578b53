#!/usr/bin/env python3
"""Draws the depth-weight heatmap of a Block AttnRes model (the paper's
figure): one row per aggregation (layer, in program order; the last row is
the final aggregation), one column per source (0 is the embedding, then the
completed blocks, then the partial sum), the colour the softmax weight.

    attnres-run model.onnx --inputs in.npz --dump-depth-weights w.npz [--per-token]
    scripts/plot_depth_weights.py w.npz -o weights.png [--title TEXT]

Input: the .npz attnres-run writes, 'aggregation_<k>' float32[n_k] (averaged
over tokens: one panel) or float32[n_k, B, T...] (--per-token: one panel
per input in the batch, averaged over its tokens). Cells of sources a layer
does not have are left blank.
"""

import argparse
import re
import sys

import numpy as np


def load(path):
    arrays = np.load(path)
    keyed = []
    for name in arrays.files:
        m = re.fullmatch(r"aggregation_(\d+)", name)
        if not m:
            sys.exit(f"plot_depth_weights: unexpected array '{name}' in {path}")
        keyed.append((int(m.group(1)), arrays[name].astype(np.float64)))
    if not keyed:
        sys.exit(f"plot_depth_weights: {path} holds no aggregation_<k> array")
    return [a for _, a in sorted(keyed, key=lambda x: x[0])]


def panels(weights):
    """[panel][layer][source] matrices, NaN where a layer has no source."""
    per_token = weights[0].ndim > 1
    batch = weights[0].shape[1] if per_token else 1
    sources = max(w.shape[0] for w in weights)
    out = np.full((batch, len(weights), sources), np.nan)
    for layer, w in enumerate(weights):
        if per_token:
            # [n, B, tokens...]: the mean over the tokens of each input.
            w = w.reshape(w.shape[0], w.shape[1], -1).mean(axis=2)
            out[:, layer, : w.shape[0]] = w.T
        else:
            out[0, layer, : w.shape[0]] = w
    return out


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--title", default="Depth weights")
    opts = parser.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = panels(load(opts.weights))
    count = data.shape[0]
    fig, axes = plt.subplots(1, count, figsize=(1.5 + 0.6 * data.shape[2] *
                                                count, 1 + 0.4 * data.shape[1]),
                             squeeze=False)
    for index, ax in enumerate(axes[0]):
        image = ax.imshow(np.ma.masked_invalid(data[index]), vmin=0, vmax=1,
                          cmap="viridis", aspect="auto")
        ax.set_xlabel("source (0: embedding)")
        ax.set_ylabel("aggregation (last: final)")
        ax.set_xticks(range(data.shape[2]))
        ax.set_yticks(range(data.shape[1]))
        if count > 1:
            ax.set_title(f"input {index}")
        for (row, col), value in np.ndenumerate(data[index]):
            if not np.isnan(value):
                ax.text(col, row, f"{value:.2f}", ha="center", va="center",
                        color="white" if value < 0.5 else "black",
                        fontsize=7)
    fig.colorbar(image, ax=axes[0].tolist(), label="softmax weight")
    fig.suptitle(opts.title)
    fig.savefig(opts.output, dpi=120)
    print(f"{opts.output}: {data.shape[1]} aggregations x up to "
          f"{data.shape[2]} sources, {count} panel(s)")


if __name__ == "__main__":
    main()
