"""Validation: a chunk split into the rows that pass the fields' declared checks and the
format's own needs, and those that do not, each with its reasons.

- `verdict`: the split and its reasons; `problems`: the format's hook and text that is
  not UTF-8; `rules`: what each check accepts; `column`: a column's kind, computed once;
  `reasons`: each broken rule's rows and how to say why.
"""

from exportctl.transforms.validate.verdict import Verdict, checks_of, validate

__all__ = ["Verdict", "checks_of", "validate"]
