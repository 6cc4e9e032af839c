"""The daemon's status page and run API (served by `exportctl daemon --listen`)."""
