"""Records from an HTTP API: a JSON array, an object holding one, or NDJSON, page by page.

`options` checks the spec's options, `pages` walks the pagination and streams each
page's records, `records` types them into chunks, `source` puts it together.
"""
