"""The JSON API: thin FastAPI routers over the session service."""
