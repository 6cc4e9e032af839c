"""Destinations own opening, temporary storage and the atomic commit of a file."""
