"""cluster.yaml against the schema Ray's cluster launcher validates with."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[1] / "cluster.yaml"


def test_cluster_yaml_passes_rays_own_validation():
    config = yaml.safe_load(CLUSTER.read_text())
    validate_config(prepare_config(config))  # what `ray up` does before launching: raises on any violation
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    assert types[config["head_node_type"]]["max_workers"] == 0
    assert any(t["node_config"]["InstanceType"].startswith("p5") and t["max_workers"] > 0 for t in types.values())
    assert all(0 <= t["min_workers"] <= t["max_workers"] <= config["max_workers"] for t in types.values())
