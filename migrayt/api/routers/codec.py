"""Remote codec for the Temporal UI and `temporal` CLI: POST /codec/encode and /codec/decode.

The protocol is Temporal's: `{"payloads": [{"metadata": {k: base64}, "data": base64}]}` in, the same
shape out. The UI calls from its own origin, so these routes answer CORS for the configured UI
origins (the embedded UI by default) and require a tenant's token like every other route.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from migrayt.api.auth import TenantId as Tenant

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
async def encode(body: CodecPayloads, request: Request, response: Response, tenant_id: Tenant) -> CodecPayloads:
    response.headers.update(cors_headers(request))
    return to_json(await codec_of(request).encode(to_protos(body)))


@router.post("/decode", response_model=CodecPayloads)
async def decode(body: CodecPayloads, request: Request, response: Response, tenant_id: Tenant) -> CodecPayloads:
    response.headers.update(cors_headers(request))
    try:
        decoded = await codec_of(request).decode(to_protos(body))
    except ValueError as err:  # unknown key id, tampered payload: the message names the key id only
        raise HTTPException(400, str(err), headers=cors_headers(request)) from None
    return to_json(decoded)
