"""Prometheus as a source: a server's HTTP API (`prometheus`), or a saved scrape in the
text exposition format (`prometheus_text`).

One module per concern: `options` checks the spec's options, `bounds` reads the time
bounds off a filter, `windows` cuts a range into requests, `rows` flattens samples,
`source` queries the server, `text` reads a scrape.
"""
