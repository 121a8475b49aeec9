"""What a sandbox ADO organization is configured with."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from migrayt.sandbox.generator.project import END


class AdoSandboxConfig(BaseModel):
    pat: str = "sandbox-pat"
    # The sandbox's "today" for @Today and team iteration time frames; fixed so runs are repeatable.
    today: datetime = END - timedelta(days=20)
    graph_page_size: int = Field(500, ge=1)
