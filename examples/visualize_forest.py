"""The seed's "Model Visualizations": the first tree of the random forest from the tabular example, with the path
one prediction takes through it.

Run a server first (``make run``) and ``examples/housing_forest.py``, then:
``.venv/bin/python examples/visualize_forest.py --svg tree-0.svg`` and open the SVG in a browser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genome.modelstore.client import ModelStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--application", default="search")
    parser.add_argument("--canonical-name", default="/housing/ca/forest-1")
    parser.add_argument("--tree", type=int, default=0, help="which tree of the forest")
    parser.add_argument("--depth", type=int, default=3, help="levels to show below the root")
    parser.add_argument("--svg", type=Path, help="write the drawing of the tree here")
    args = parser.parse_args()

    with ModelStore() as store:
        ref = {"application": args.application, "canonical_name": args.canonical_name}
        # the first row of the stored sample stands in for a request to explain
        sample = store.sample_explanations(**ref)
        row = dict(zip(sample["feature_names"], sample["values"][0], strict=True))
        view = store.visualize(row, tree=args.tree, depth=args.depth, **ref)
        model = view["model"]
        print(
            f"{model['canonicalName']} v{model['versionNumber']}: tree {view['tree']} of {view['trees']}, "
            f"{view['totalNodes']} nodes, depth {view['treeDepth']}; showing {view['shownNodes']}"
            + (" (truncated)" if view["truncated"] else "")
        )
        root = view["nodes"][0]
        print(f"root split: {root['feature']} <= {root['threshold']:.4g} over {root['samples']:.0f} training rows")
        print(f"path: {view['path']['rule']}")
        print(f"the whole forest predicts {view['path']['modelPrediction']:.4g}")
        if view["data"] is not None:
            leaf = view["data"]["nodes"].get(str(view["path"]["leaf"]))
            if leaf is not None:
                print(f"sample rows in that leaf: {leaf['rows']}, mean target {leaf['summary']['mean']:.4g}")
        if args.svg:
            args.svg.write_text(store.visualize_svg(row, tree=args.tree, depth=args.depth, **ref))
            print(f"wrote {args.svg}")


if __name__ == "__main__":
    main()
