"""Reads what `datarus run --notebook` and `datarus rollouts` wrote with the real consumers; prints what they saw, as JSON.

    python validate_headless.py notebook <file.ipynb>
    python validate_headless.py dataset <rollouts.jsonl>
"""
import json
import sys

kind, path = sys.argv[1], sys.argv[2]
if kind == "notebook":
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)  # raises on an invalid notebook
    cells = notebook.cells
    print(json.dumps({
        "roles": [c.metadata.get("datarus", {}).get("role") for c in cells],
        "provenance": [c.metadata["datarus"] for c in cells if "datarus" in c.metadata],
        "outputs": [o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs],
        "answer": next((c.source for c in cells if c.metadata.get("datarus", {}).get("role") == "answer"), None),
    }))
elif kind == "dataset":
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=path, split="train")
    print(json.dumps({"rows": dataset.num_rows, "columns": sorted(dataset.column_names)}))
else:
    sys.exit(f"unknown kind {kind}")
