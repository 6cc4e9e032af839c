"""`exportctl restore`: a configuration export written back as the files it came from, or an
API's settings export sent back to its URL (`api`)."""

from exportctl.restore.apply import Restore, execute, plan

__all__ = ["Restore", "execute", "plan"]
