"""Parse every file of the Databricks bundle folder (`jobs/`) and print them as JSON.

YAML files are read with PyYAML's safe loader, Python files are compiled with Python 3.10's
grammar (`ast.parse`, which writes no bytecode), TOML files (the wheel's pyproject.toml) are read
with `tomllib`, Markdown is taken as text. Any other kind of
file is an error, so a new kind of job file cannot slip past tests/it/jobs.rs unchecked.

Every job definition in a YAML file (`resources.jobs.<key>`, at the top level or under
`targets.<target>`) is loaded with Databricks' own typed model of bundle resources
(`databricks.bundles.jobs.Job.from_dict`, from the `databricks-bundles` package), which refuses
unknown or misspelled fields at any depth and values of the wrong type.

Output: {"relative/path": {"kind": "yaml" | "python" | "toml" | "text", "doc": <parsed YAML or TOML, or null>,
"jobs_validated": ["<key>" or "<target>:<key>", ...]}}.
"""

import ast
import json
import os
import sys
import tomllib

import yaml

# Local state of the Databricks CLI and Python's caches are not part of the bundle.
SKIP_DIRS = {".databricks", "__pycache__"}


def validate_jobs(rel, doc):
    """Load every job of a bundle YAML document with Databricks' model; returns their keys."""
    from databricks.bundles.jobs import Job

    if not isinstance(doc, dict):
        return []
    places = [("", doc)] + [(f"{t}:", v) for t, v in (doc.get("targets") or {}).items() if isinstance(v, dict)]
    done = []
    for prefix, node in places:
        for key, job in ((node.get("resources") or {}).get("jobs") or {}).items():
            try:
                Job.from_dict(job)
            except (ValueError, TypeError, KeyError) as e:
                sys.exit(f"{rel}: job `{prefix}{key}` is not a valid Databricks job: {e}")
            done.append(prefix + key)
    return done


def main(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if name.endswith((".yml", ".yaml")):
                doc = yaml.safe_load(text)
                out[rel] = {"kind": "yaml", "doc": doc, "jobs_validated": validate_jobs(rel, doc)}
            elif name.endswith(".py"):
                # Python 3.10 is the oldest on a supported Databricks runtime (13.3 LTS).
                ast.parse(text, filename=path, feature_version=(3, 10))
                out[rel] = {"kind": "python", "doc": None}
            elif name.endswith(".toml"):
                out[rel] = {"kind": "toml", "doc": tomllib.loads(text)}
            elif name.endswith(".md"):
                out[rel] = {"kind": "text", "doc": None}
            else:
                sys.exit(f"{rel}: no checker for this kind of file (teach tests/python/load_jobs.py)")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
