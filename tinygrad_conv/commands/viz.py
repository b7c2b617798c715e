"""``tinygrad-conv viz``: draw a default model's computation graph, forward or backward, to a file.

    tinygrad-conv viz                              # LeNet's forward graph -> lenet.svg
    tinygrad-conv viz --model autoencoder --backward -o ae_backward.png
    tinygrad-conv viz --collapse 2 -o lenet_layers.pdf   # one node per layer
    tinygrad-conv viz -o lenet.dot                 # DOT text: needs no Graphviz program

The graph is recorded on a batch of two images of the bundled 8x8 digits. The forward drawing
ends at the loss (cross entropy for LeNet, mean squared error for the autoencoder); ``--backward``
draws the ops that backward runs to compute every parameter's gradient.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

MODELS = ("lenet", "autoencoder")
BATCH = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=MODELS, default="lenet", help="which model to draw (default lenet)")
    parser.add_argument("--backward", action="store_true",
                        help="draw the ops backward runs (recorded with create_graph=True) instead of "
                             "the forward graph")
    parser.add_argument("--collapse", type=int, default=None, metavar="N",
                        help="draw each module at depth N as one node (1: features/classifier, "
                             "2: one node per layer)")
    parser.add_argument("--show-saved", action="store_true",
                        help="list the arrays each op saved for backward, with their bytes")
    parser.add_argument("--rankdir", choices=("TB", "LR"), default="TB",
                        help="layout direction: top to bottom (default) or left to right")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="output file; the suffix picks the format: .svg, .png, .pdf, or .dot "
                             "(DOT text, no Graphviz program needed). Default: MODEL[_backward].svg")


def model_and_loss(name: str) -> tuple[Any, Any]:
    """The default model for the digits, and its loss on a small batch (the graph to draw)."""
    import tinygrad_conv as tc
    import tinygrad_conv.functional as F
    from tinygrad_conv.data import load_digits
    from tinygrad_conv.nn import init
    from tinygrad_conv.nn.models import build_model

    init.manual_seed(0)
    model = build_model(name, "digits")
    images, labels = load_digits("train")
    x = tc.Tensor(images[:BATCH])
    out = model(x)
    if name == "lenet":
        loss = F.cross_entropy(out, tc.Tensor(labels[:BATCH]))
    else:
        loss = F.mse_loss(out, x)
    return model, loss


def run(args: argparse.Namespace) -> int:
    from tinygrad_conv import viz

    output = Path(args.output or f"{args.model}{'_backward' if args.backward else ''}.svg")
    if output.suffix.lower() not in viz.FORMATS:
        print(f"tinygrad-conv viz: cannot tell the format of {str(output)!r} from its suffix; use "
              f"one of {', '.join(viz.FORMATS)}", file=sys.stderr)
        return 2
    if args.collapse is not None and args.collapse < 1:
        print(f"tinygrad-conv viz: --collapse must be 1 or more, got {args.collapse}", file=sys.stderr)
        return 2
    model, loss = model_and_loss(args.model)
    kwargs = {"params": model, "collapse": args.collapse, "show_saved": args.show_saved,
              "rankdir": args.rankdir}
    graph = viz.make_backward_dot(loss, **kwargs) if args.backward else viz.make_dot(loss, **kwargs)
    try:
        viz.save(graph, output)
    except viz.GraphvizNotFoundError as exc:
        print(f"tinygrad-conv viz: {exc}", file=sys.stderr)
        print(f"(tinygrad-conv viz -o {output.with_suffix('.dot')} writes the DOT text without it)",
              file=sys.stderr)
        return 1
    n_ops = len(re.findall(r"^\s*op\d+ \[", graph.source, flags=re.M))
    what = "backward" if args.backward else "forward"
    print(f"wrote {output}: {args.model} {what} graph, {n_ops} op nodes"
          + (f", modules collapsed at depth {args.collapse}" if args.collapse else ""))
    return 0
