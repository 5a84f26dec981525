"""Loads Datarus Lab exports with the real consumers and prints what they saw, as JSON.

    python validate_exports.py <folder>   (tagged.jsonl, sft.jsonl, sft-split.jsonl, grpo.jsonl, dpo.jsonl, kto.jsonl, ipynb/)
"""
import glob
import json
import os
import sys

import nbformat
from datasets import load_dataset

folder = sys.argv[1]
report = {"datasets": {}, "notebooks": []}
for name in ["tagged", "sft", "sft-split", "grpo", "dpo", "kto"]:
    path = os.path.join(folder, f"{name}.jsonl")
    dataset = load_dataset("json", data_files=path, split="train")
    report["datasets"][name] = {"rows": dataset.num_rows, "columns": sorted(dataset.column_names)}
for path in sorted(glob.glob(os.path.join(folder, "ipynb", "*.ipynb"))):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)  # raises on an invalid notebook
    report["notebooks"].append({"file": os.path.basename(path), "cells": len(notebook.cells)})
print(json.dumps(report))
