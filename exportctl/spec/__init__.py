"""The spec language: YAML files parsed once into typed, frozen objects."""

from exportctl.spec.load import load_spec, load_specs
from exportctl.spec.model import ExportSpec

__all__ = ["ExportSpec", "load_spec", "load_specs"]
