"""The CLI's HTTP client: one API URL and token, errors turned into exit codes scripts can rely on.

Exit codes: 0 ok · 1 failure (a run that did not complete, an unreachable API, auth refused, a
server error) · 2 usage (bad arguments, or the API refused the input: 400/422) · 3 not found (404)
· 4 conflict (409: e.g. pausing a run that is not RUNNING; nothing changed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

OK, FAILURE, USAGE, NOT_FOUND, CONFLICT = 0, 1, 2, 3, 4


class CliError(Exception):
    def __init__(self, message: str, code: int, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def exit_code_for(status: int) -> int:
    if status == 404:
        return NOT_FOUND
    if status == 409:
        return CONFLICT
    if status in (400, 422):
        return USAGE
    return FAILURE


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:500] or response.reason_phrase
    if isinstance(detail, list):  # FastAPI validation errors: say which field and why
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'body'}: {e.get('msg')}" for e in detail)
    return str(detail)


class ApiClient:
    def __init__(self, api_url: str, token: str | None, timeout: float = 30.0) -> None:
        # The door audit events record for what this client does (the API takes only "cli" or "api" from it).
        headers = {"X-Migrayt-Door": "cli"} | ({"Authorization": f"Bearer {token}"} if token else {})
        self.api_url = api_url.rstrip("/")
        self.http = httpx.Client(base_url=self.api_url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0))

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        return response.json() if response.content else None

    def download(self, path: str, **params: Any) -> bytes:
        """The answer's bytes as sent (a report file), with the same errors and exit codes as `request`."""
        return self._send("GET", path, params={k: v for k, v in params.items() if v is not None}).content

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise CliError(
                f"cannot reach the Migrayt API at {self.api_url} ({type(err).__name__}); is `migrayt up` running? "
                "(--api-url / MIGRAYT_API_URL)",
                FAILURE,
            ) from None
        if response.status_code >= 400:
            message = _detail(response)
            if response.status_code == 401:
                message += " (pass --token or set MIGRAYT_API_TOKEN)"
            raise CliError(message, exit_code_for(response.status_code), response.status_code)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def events(self, path: str) -> Iterator[tuple[str, dict]]:
        """(event, data) of a Server-Sent Events stream until the run ends.

        The server ends every stream after its maximum lifetime with a `timeout` event: that is not the
        run's end, so the stream is opened again (the `timeout` event itself is not passed on).
        """
        while True:
            last = None
            for name, data in self._one_stream(path):
                last = name
                if name != "timeout":
                    yield name, data
            if last != "timeout":
                return

    def _one_stream(self, path: str) -> Iterator[tuple[str, dict]]:
        try:
            with self.http.stream("GET", path, timeout=httpx.Timeout(60.0, connect=5.0)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise CliError(_detail(response), exit_code_for(response.status_code), response.status_code)
                name, data = None, []
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif line == "" and name:
                        yield name, json.loads("\n".join(data))
                        name, data = None, []
        except httpx.HTTPError as err:
            raise CliError(f"lost the event stream from {self.api_url} ({type(err).__name__})", FAILURE) from None
