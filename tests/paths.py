"""Where the tests find the repository's files, whichever folder a test module sits in."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
CASES = TESTS / "cases"
FIXTURES = TESTS / "fixtures"
