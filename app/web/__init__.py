"""The HTML playground: HTMX pages and fragments over the same session service."""
