"""Encoders: each takes a binary stream and writes chunks of rows to it; none opens a file."""
