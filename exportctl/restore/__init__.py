"""`exportctl restore`: a configuration export written back as the files it came from."""

from exportctl.restore.apply import Restore, execute, plan

__all__ = ["Restore", "execute", "plan"]
