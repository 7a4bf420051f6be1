"""The group's model template rendered for one row, as kipoi renders it.

kipoi renders ``model-template.yaml`` with Jinja2 for each row of ``models.tsv`` (read by
pandas, so empty cells are NaN: the template tests ``is string``). ``hyenadna export-kipoi``
renders the same template for a model this project produced, so exports and the group
cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jinja2 import Template

from . import GROUP_DIR

TEMPLATE = GROUP_DIR / "model-template.yaml"
MODELS_TSV = GROUP_DIR / "models.tsv"


def group_rows(models_tsv: Path = MODELS_TSV) -> list[dict[str, Any]]:
    """The rows of ``models.tsv`` as kipoi reads them (pandas, ``#`` comments)."""
    return pd.read_csv(models_tsv, sep="\t", comment="#").to_dict("records")


def render_model_yaml(row: dict[str, Any], template: Path = TEMPLATE) -> str:
    """The model.yaml text of one row."""
    return Template(template.read_text()).render(**row)


def model_description(row: dict[str, Any]) -> dict[str, Any]:
    """The rendered model.yaml of one row, parsed (plain YAML, no kipoi)."""
    return yaml.safe_load(render_model_yaml(row))
