"""Remote codec for the Temporal UI and `temporal` CLI: POST /codec/encode and /codec/decode.

The protocol is Temporal's: `{"payloads": [{"metadata": {k: base64}, "data": base64}]}` in, the same
shape out. The UI calls from its own origin, so these routes answer CORS for the configured UI
origins (the embedded UI by default).

The codec is an operator door: the Temporal UI and `temporal` CLI list every tenant's workflows, and
one key decrypts them all, so a tenant's token would let tenant A read tenant B's payloads. It takes
the admin principal instead: the bootstrap `MIGRAYT_ADMIN_TOKEN`, or — with auth off, as on the
embedded `migrayt up` — a request without a token (what the embedded UI sends). A tenant's token is
a 403 naming what is needed; no token with auth on is a 401.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from migrayt.api.auth import Principal, admin_principal, bearer, principal_for_token

router = APIRouter(prefix="/codec", tags=["codec"])

ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace, Caller-Type"


class CodecCorsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIGRAYT_", env_file=".env", extra="ignore")

    # Origins allowed to call the codec from a browser; empty means the embedded Temporal UI's.
    codec_cors_origins: list[str] = Field(default_factory=list)


class CodecPayload(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict, description="metadata values, base64")
    data: str = Field("", description="payload bytes, base64")


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list, max_length=10_000)


def allowed_origins(request: Request) -> set[str]:
    configured = CodecCorsSettings().codec_cors_origins
    if configured:
        return set(configured)
    port = request.app.state.service.settings.temporal_ui_port
    return {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}


def cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin or origin not in allowed_origins(request):
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


NEEDS_ADMIN = "the codec decrypts every tenant's workflow payloads, so it is for operators: send the admin token (MIGRAYT_ADMIN_TOKEN)"


async def operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The admin principal, or a refusal the UI can read (CORS headers on the error too)."""
    cors = cors_headers(request)
    given = credentials.credentials if credentials else None
    if given is None and request.app.state.auth_mode == "on":
        raise HTTPException(401, f"{NEEDS_ADMIN} as 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer", **cors})
    try:
        return await admin_principal(request, credentials)
    except HTTPException:
        pass  # not the admin: say whether the token is a tenant's (403) or nobody's (401)
    try:
        principal = await principal_for_token(request, given)
    except HTTPException as unknown:
        raise HTTPException(unknown.status_code, unknown.detail, headers={**(unknown.headers or {}), **cors}) from None
    raise HTTPException(403, f"{NEEDS_ADMIN}; a tenant's token (here tenant {principal.tenant!r}) is not enough", headers=cors)


Operator = Annotated[Principal, Depends(operator)]


def codec_of(request: Request) -> PayloadCodec:
    codec = request.app.state.service.temporal.data_converter.payload_codec
    if codec is None:
        raise HTTPException(503, "this API's Temporal client has no payload codec")
    return codec


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, f"{what} is not valid base64") from None


def to_protos(body: CodecPayloads) -> list[Payload]:
    return [
        Payload(metadata={k: _b64(v, f"payloads[{i}].metadata[{k!r}]") for k, v in p.metadata.items()}, data=_b64(p.data, f"payloads[{i}].data"))
        for i, p in enumerate(body.payloads)
    ]


def to_json(payloads: list[Payload]) -> CodecPayloads:
    enc = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return CodecPayloads(payloads=[CodecPayload(metadata={k: enc(v) for k, v in p.metadata.items()}, data=enc(p.data)) for p in payloads])


@router.options("/{operation}", include_in_schema=False)
async def preflight(operation: str, request: Request) -> Response:
    headers = cors_headers(request)
    return Response(status_code=204 if headers else 403, headers=headers)


@router.post("/encode", response_model=CodecPayloads)
async def encode(body: CodecPayloads, request: Request, response: Response, _: Operator) -> CodecPayloads:
    response.headers.update(cors_headers(request))
    return to_json(await codec_of(request).encode(to_protos(body)))


@router.post("/decode", response_model=CodecPayloads)
async def decode(body: CodecPayloads, request: Request, response: Response, _: Operator) -> CodecPayloads:
    response.headers.update(cors_headers(request))
    try:
        decoded = await codec_of(request).decode(to_protos(body))
    except ValueError as err:  # unknown key id, tampered payload: the message names the key id only
        raise HTTPException(400, str(err), headers=cors_headers(request)) from None
    return to_json(decoded)
