"""The CRD validator must reject what the API server would: otherwise the CRD checks prove nothing."""

from __future__ import annotations

import pytest
import yaml

from tests.charts.crd_schema import CrdRegistry

TOY_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "toys.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Toy", "plural": "toys"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["percent"],
                                "properties": {
                                    "percent": {
                                        "type": "integer",
                                        "format": "int32",
                                        "minimum": 0,
                                        "maximum": 100,
                                    },
                                    "port": {
                                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                                        "x-kubernetes-int-or-string": True,
                                    },
                                    "note": {"type": "string", "nullable": True},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                    # A field literally named like a keyword must survive translation.
                                    "format": {"type": "string", "enum": ["a", "b"]},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def toys(tmp_path_factory) -> CrdRegistry:
    folder = tmp_path_factory.mktemp("crds")
    (folder / "toys.yaml").write_text(yaml.safe_dump(TOY_CRD))
    return CrdRegistry(folder)


def toy(**spec):
    return {"apiVersion": "example.com/v1", "kind": "Toy", "metadata": {"name": "t"}, "spec": spec}


def test_valid_object_passes(toys):
    obj = toy(percent=10, port="http", note=None, extra={"anything": {"goes": 1}}, format="a")
    assert list(toys.errors(obj)) == []
    assert list(toys.errors(toy(percent=100, port=8080))) == []


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"percent": 150}, "spec.percent"),
        ({"percent": -1}, "spec.percent"),
        ({}, "spec"),
        ({"percent": 1, "typo": True}, "spec"),
        ({"percent": 1, "port": 1.5}, "spec.port"),
        ({"percent": 1, "format": "c"}, "spec.format"),
    ],
)
def test_invalid_object_is_rejected(toys, spec, where):
    errors = list(toys.errors(toy(**spec)))
    assert errors and errors[0].startswith(f"{where}:"), errors


def test_unknown_top_level_field_is_rejected(toys):
    obj = toy(percent=1) | {"sepc": {}}
    assert list(toys.errors(obj))


def test_real_inferenceservice_canary_percent_is_bounded(crds):
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "m"},
        "spec": {
            "predictor": {"model": {"modelFormat": {"name": "triton"}, "storageUri": "s3://b/m/1"}},
            "canary": [{"trafficPercent": 150, "predictor": {"name": "v2"}}],
        },
    }
    assert list(crds.errors(isvc)) == ["spec.canary.0.trafficPercent: 150 is greater than the maximum of 100"]
    isvc["spec"]["canary"][0]["trafficPercent"] = 20
    assert list(crds.errors(isvc)) == []
    isvc["spec"]["predictor"]["modle"] = {}
    assert any("modle" in e for e in crds.errors(isvc))
