"""The web app (wizard and progress screen); app.py includes `router` when this package is present."""

from migrayt.api.web import validation_pages  # noqa: F401 (adds the validation pages to the router)
from migrayt.api.web.routes import router

__all__ = ["router"]
