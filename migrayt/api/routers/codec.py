"""Remote codec for the Temporal UI and `temporal` CLI: POST /codec/encode and /codec/decode.

The protocol is Temporal's: `{"payloads": [{"metadata": {k: base64}, "data": base64}]}` in, the same
shape out. The UI calls from its own origin, so these routes answer CORS for the configured UI
origins (the embedded UI by default).

Who can decode what — one key encrypts every tenant's payloads, so the caller decides, not the key:
- the admin principal (the bootstrap `MIGRAYT_ADMIN_TOKEN`, or — with auth off, as on the embedded
  `migrayt up` — a request without a token, what the embedded UI sends) decodes every payload;
- a tenant's token decodes only payloads bound to a workflow of that tenant: the payload's
  `migrayt-workflow-id` (authenticated by AES-GCM, see migrayt/temporal/codec.py) names a workflow
  whose `MigrayTenant` search attribute is the token's tenant — or, for the input a schedule gives
  the workflows it starts, a schedule of that tenant whose action uses that workflow-id prefix.
  Every other payload — another tenant's, one encrypted before payloads were bound, one whose
  workflow is gone or never existed — comes back unchanged, still encrypted, exactly as any
  payload not ours would: the answer never says whether a workflow id exists or whose it is.
  A payload that fails authentication (tampered, relabelled to another workflow, unknown key) is a
  400 for everyone, before any lookup.
No token with auth on, or an unknown token, is a 401. Encoding is open to any authenticated caller:
it encrypts data the caller already has, unbound, which reveals nothing and decodes for nobody but
the admin.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import OrderedDict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError, RPCStatusCode

from migrayt.api.auth import Principal, admin_principal, bearer, principal_for_token
from migrayt.temporal.codec import ENCODING, EncryptionCodec, binding_of
from migrayt.temporal.search_attributes import TENANT

log = logging.getLogger("migrayt.codec")

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


NEEDS_TOKEN = "the codec needs an API token (a tenant's, for that tenant's workflows, or MIGRAYT_ADMIN_TOKEN)"


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The admin principal or a tenant's, or a 401 the UI can read (CORS headers on the error too)."""
    cors = cors_headers(request)
    given = credentials.credentials if credentials else None
    if given is None and request.app.state.auth_mode == "on":
        raise HTTPException(
            401, f"{NEEDS_TOKEN} as 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer", **cors}
        )
    try:
        return await admin_principal(request, credentials)
    except HTTPException:
        pass  # not the admin: a tenant's token, or nobody's (401)
    try:
        return await principal_for_token(request, given)
    except HTTPException as unknown:
        raise HTTPException(unknown.status_code, unknown.detail, headers={**(unknown.headers or {}), **cors}) from None


Caller = Annotated[Principal, Depends(caller)]

LOOKUP_TIMEOUT = timedelta(seconds=5)
LOOKUPS_PER_REQUEST = 100  # distinct uncached workflows one decode may look up; the rest come back encrypted
SCHEDULE_ID_GUESSES = 4


class WorkflowOwners:
    """Which tenant a workflow belongs to: its `MigrayTenant` search attribute, set when it starts and never changed.

    Found owners are cached per workflow id (they cannot change); misses are not, so a workflow
    found later is not hidden, and nothing about a miss is ever shown to the caller.
    """

    def __init__(self, client: Client, size: int = 20_000) -> None:
        self.client = client
        self.size = size
        self._known: OrderedDict[str, str] = OrderedDict()

    def cached(self, workflow_id: str) -> str | None:
        return self._known.get(workflow_id)

    async def tenant_of(self, workflow_id: str) -> str | None:
        if (tenant := self._known.get(workflow_id)) is not None:
            return tenant
        tenant = await self._of_workflow(workflow_id) or await self._of_schedule(workflow_id)
        if tenant:
            self._known[workflow_id] = tenant
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return tenant

    async def _of_workflow(self, workflow_id: str) -> str | None:
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=LOOKUP_TIMEOUT)
        except RPCError as err:
            _log_unexpected(err)
            return None
        return description.typed_search_attributes.get(TENANT)

    async def _of_schedule(self, workflow_id: str) -> str | None:
        """A schedule encodes its action's input under the workflow-id prefix its workflows get.

        The schedule id is that prefix or a leading part of it (cutover-…-start); the schedule counts
        only if its action really starts workflows under exactly this prefix.
        """
        parts = workflow_id.split("-")
        for n in range(len(parts), max(0, len(parts) - SCHEDULE_ID_GUESSES), -1):
            try:
                description = await self.client.get_schedule_handle("-".join(parts[:n])).describe(
                    rpc_timeout=LOOKUP_TIMEOUT
                )
            except RPCError as err:
                _log_unexpected(err)
                continue
            action = description.schedule.action
            if isinstance(action, ScheduleActionStartWorkflow) and action.id == workflow_id:
                return description.typed_search_attributes.get(TENANT) or action.typed_search_attributes.get(TENANT)
        return None


def _log_unexpected(err: RPCError) -> None:
    if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
        log.warning(
            "codec: looking up a payload's workflow failed (%s); it is returned encrypted",
            err.status.name if err.status else "?",
        )


def owners_of(request: Request) -> WorkflowOwners:
    client = request.app.state.service.temporal
    owners = getattr(request.app.state, "codec_owners", None)
    if owners is None or owners.client is not client:
        owners = request.app.state.codec_owners = WorkflowOwners(client)
    return owners


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
        Payload(
            metadata={k: _b64(v, f"payloads[{i}].metadata[{k!r}]") for k, v in p.metadata.items()},
            data=_b64(p.data, f"payloads[{i}].data"),
        )
        for i, p in enumerate(body.payloads)
    ]


def to_json(payloads: list[Payload]) -> CodecPayloads:
    enc = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return CodecPayloads(
        payloads=[CodecPayload(metadata={k: enc(v) for k, v in p.metadata.items()}, data=enc(p.data)) for p in payloads]
    )


@router.options("/{operation}", include_in_schema=False)
async def preflight(operation: str, request: Request) -> Response:
    headers = cors_headers(request)
    return Response(status_code=204 if headers else 403, headers=headers)


@router.post("/encode", response_model=CodecPayloads)
async def encode(body: CodecPayloads, request: Request, response: Response, _: Caller) -> CodecPayloads:
    """Encrypt, unbound: open to any authenticated caller, since it only encrypts data the caller sent."""
    response.headers.update(cors_headers(request))
    return to_json(await codec_of(request).encode(to_protos(body)))


@router.post("/decode", response_model=CodecPayloads)
async def decode(body: CodecPayloads, request: Request, response: Response, principal: Caller) -> CodecPayloads:
    """Decrypt what the caller may read (see the module docstring); everything else comes back unchanged."""
    response.headers.update(cors_headers(request))
    codec = codec_of(request)
    sealed = to_protos(body)
    try:
        # Authenticate first (it binds the workflow id): a forged binding costs no lookup and is refused.
        decoded = await codec.decode(sealed)
    except ValueError as err:  # unknown key id, tampered payload: the message names the key id only
        raise HTTPException(400, str(err), headers=cors_headers(request)) from None
    if principal.admin:
        return to_json(decoded)
    if not isinstance(codec, EncryptionCodec):
        raise HTTPException(
            503, "this API's payload codec cannot tell whose a payload is", headers=cors_headers(request)
        )
    owners = owners_of(request)
    namespace = request.app.state.service.temporal.namespace
    found: dict[str, str | None] = {}  # this request's answers, misses included: one lookup per workflow
    out = []
    for original, plain in zip(sealed, decoded, strict=True):
        if original.metadata.get("encoding") != ENCODING:
            out.append(original)  # not encrypted by us: nothing was decrypted
            continue
        binding, tenant = binding_of(original), None
        if binding is not None and binding.namespace == namespace:
            wid = binding.workflow_id
            if wid not in found:
                cached = owners.cached(wid)
                found[wid] = cached if cached or len(found) >= LOOKUPS_PER_REQUEST else await owners.tenant_of(wid)
            tenant = found[wid]
        out.append(plain if tenant == principal.tenant else original)
    return to_json(out)
