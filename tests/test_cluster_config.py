"""cluster.yaml and serve_config.yaml against the schemas Ray itself validates them with."""

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


def test_serve_config_passes_serves_own_schema_and_builds_the_app(tmp_path):
    from ray.serve.schema import ServeDeploySchema

    import serve_app

    config = yaml.safe_load((CLUSTER.parent / "serve_config.yaml").read_text())
    ServeDeploySchema.model_validate(config)  # what `serve deploy` checks before sending it
    (application,) = config["applications"]
    module, _, builder = application["import_path"].partition(":")
    assert module == "serve_app" and getattr(serve_app, builder) is serve_app.build_app
    # The builder takes these arguments: with the media root of this machine, it builds the graph.
    args = {**application["args"], "media_root": str(tmp_path), "analyzers": "cut_analysis"}
    assert serve_app.build_app(args) is not None
