"""Where benchmarks get their files: a folder given on the command line (the dev corpus laid
out by ../shared/eval/materialize, say), else a synthetic set we generate, so every
benchmark runs anywhere."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path


def load(folder: str | None, limit: int = 5000) -> list[tuple[str, bytes]]:
    if folder:
        out = []
        for root, _, files in os.walk(folder):
            for f in sorted(files):
                if f.endswith(".ipynb"):
                    p = Path(root) / f
                    out.append((str(p), p.read_bytes()))
        return sorted(out)[:limit]
    return synthetic(400)


def synthetic(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    rnd = random.Random(seed)
    snippets = [
        "import numpy as np\nimport pandas as pd\ndf = pd.read_csv('data.csv')\ndf.describe()",
        "import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))\n"
        "opt = torch.optim.Adam(model.parameters(), lr=1e-3)\nfor epoch in range(10):\n    for x, y in loader:\n"
        "        loss = nn.functional.cross_entropy(model(x), y)\n        opt.zero_grad(); loss.backward(); opt.step()",
        "!pip install -q transformers datasets\n%matplotlib inline",
        "import matplotlib.pyplot as plt\nplt.plot(history['loss'])\nplt.title('training loss')\nplt.show()",
        "def preprocess(text):\n    text = text.lower().strip()\n    return ' '.join(t for t in text.split() if t.isalpha())",
    ]
    out = []
    for i in range(n):
        cells = [{"cell_type": "code", "source": rnd.choice(snippets), "metadata": {}, "outputs": []}
                 for _ in range(rnd.randint(5, 40))]
        out.append((f"synthetic/{i}.ipynb", json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                                          "cells": cells}).encode()))
    return out


def code_cells(data: bytes) -> list[str]:
    try:
        nb = json.loads(data)
    except ValueError:
        return []
    cells = nb.get("cells") if isinstance(nb, dict) else None
    out = []
    for c in cells or []:
        if isinstance(c, dict) and c.get("cell_type") == "code":
            s = c.get("source", "")
            out.append("".join(s) if isinstance(s, list) else str(s))
    return out
