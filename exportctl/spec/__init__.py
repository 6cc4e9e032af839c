"""The spec language: YAML files parsed once into typed, frozen objects.

`load` reads and checks files; `model` holds the objects everything else uses.
"""
