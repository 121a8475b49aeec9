"""The web app (wizard and progress screen); app.py includes `router` when this package is present."""

from migrayt.api.web import manage_pages, validation_pages  # noqa: F401 (add their pages to the router)
from migrayt.api.web.routes import router

__all__ = ["router"]
