"""AES-GCM payload codec: every workflow payload leaves the process encrypted, tagged with its key id.

Keys come from `MIGRAYT_CODEC_KEYS="kid1:base64key,kid2:base64key"` (32-byte keys, AES-256-GCM).
The first key encrypts; every listed key decrypts, so a key is rotated by putting the new one first
and dropping the old one once no history that needs it is kept. With no keys configured (the
embedded default) one key is generated on first use and kept in `<state_dir>/codec-keys` (mode 0600),
so the worker, the API and `migrayt` commands sharing the state dir read each other's payloads.

Each payload is bound to its workflow: when Temporal gives the codec a serialization context with a
workflow id (workflow input/result, activity input/result, signals, queries, failures), the payload
carries `migrayt-namespace` and `migrayt-workflow-id` in its metadata, and both — with the key id —
are the AES-GCM associated data, so a payload cannot be relabelled to another workflow (or key)
without failing authentication. Decoding reads the binding from the payload itself, never from the
decode context: a schedule encodes its action's input under the workflow-id *prefix*, and
continue-as-new, child workflows and the UI decode with contexts that may differ. The API's remote
codec (migrayt/api/routers/codec.py) uses the binding to decrypt for a tenant only that tenant's
workflows' payloads; the worker and the admin decrypt everything.

Payloads encrypted before the binding existed (key id only) still decode — here and for the admin,
not for a tenant. Payloads without our encoding (histories written before the codec existed) pass
through unchanged.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from migrayt.settings import Settings

log = logging.getLogger("migrayt.codec")
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
BOUND_NAMESPACE = "migrayt-namespace"
BOUND_WORKFLOW_ID = "migrayt-workflow-id"
KEY_FILE = "codec-keys"
NONCE_BYTES = 12


class CodecSettings(BaseSettings):
    """Codec settings, read from the environment (prefix MIGRAYT_) next to `Settings`."""

    model_config = SettingsConfigDict(env_prefix="MIGRAYT_", env_file=".env", extra="ignore")

    codec_keys: SecretStr | None = None


class CodecKeyError(ValueError):
    """A key list that cannot be used; the message never contains key material."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """`kid:base64key,...` → ordered {kid: key}; the first entry is the encrypting key."""
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(p.strip() for p in spec.split(",")):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not kid:
            raise CodecKeyError(f"codec key #{n + 1} is not of the form key-id:base64-key")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"codec key {kid!r} is not valid base64") from None
        if len(key) not in (16, 24, 32):
            raise CodecKeyError(f"codec key {kid!r} must be 16, 24 or 32 bytes, got {len(key)}")
        if kid in keys:
            raise CodecKeyError(f"codec key id {kid!r} is listed twice")
        keys[kid] = key
    if not keys:
        raise CodecKeyError("no codec keys given")
    return keys


def new_key_spec() -> str:
    return f"k{secrets.token_hex(4)}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def local_keys(state_dir: Path) -> dict[str, bytes]:
    """The embedded default: a key generated once and kept under the state dir."""
    path = state_dir.expanduser().resolve() / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key_spec() + "\n")
        try:
            # link() fails if another process won the race; everyone then reads the winner's key.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return parse_keys(path.read_text())


def keys_for(settings: Settings, codec: CodecSettings | None = None) -> dict[str, bytes]:
    codec = codec or CodecSettings()
    if codec.codec_keys is not None and codec.codec_keys.get_secret_value().strip():
        return parse_keys(codec.codec_keys.get_secret_value())
    if settings.database_url or settings.temporal_address:
        # Workers and APIs on other machines would each make their own key and not read each other.
        log.warning(
            "MIGRAYT_CODEC_KEYS is not set: using the key under %s, which other machines do not have",
            settings.state_dir,
        )
    return local_keys(settings.state_dir)


@dataclasses.dataclass(frozen=True)
class Binding:
    """The workflow a payload belongs to (for a schedule's action input: its workflow-id prefix)."""

    namespace: str
    workflow_id: str


def binding_of(payload: Payload) -> Binding | None:
    """The binding a payload claims; only trustworthy once the payload has decrypted (it is associated data)."""
    if payload.metadata.get("encoding") != ENCODING or BOUND_WORKFLOW_ID not in payload.metadata:
        return None
    return Binding(
        payload.metadata.get(BOUND_NAMESPACE, b"").decode(errors="replace"),
        payload.metadata[BOUND_WORKFLOW_ID].decode(errors="replace"),
    )


def _associated_data(kid: str, binding: Binding | None) -> bytes:
    if binding is None:
        return kid.encode()  # as before the binding existed, so older payloads still authenticate
    # Length-prefixed fields: no choice of ids can make two different bindings give the same bytes.
    fields = [b"migrayt-bound-v1", kid.encode(), binding.namespace.encode(), binding.workflow_id.encode()]
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keys: dict[str, bytes], binding: Binding | None = None) -> None:
        if not keys:
            raise CodecKeyError("no codec keys given")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.encrypting_key_id = next(iter(keys))
        self.binding = binding

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """A codec binding what it encodes to the context's workflow (none known: unbound, as before)."""
        binding = None
        if isinstance(context, (WorkflowSerializationContext, ActivitySerializationContext)) and context.workflow_id:
            binding = Binding(context.namespace, context.workflow_id)
        if binding == self.binding:
            return self
        bound = copy.copy(self)  # shares the ciphers: with_context runs for every task and call
        bound.binding = binding
        return bound

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        kid = self.encrypting_key_id
        cipher = self._ciphers[kid]
        binding = self.binding
        metadata = {"encoding": ENCODING, KEY_ID: kid.encode()}
        if binding is not None:
            metadata |= {BOUND_NAMESPACE: binding.namespace.encode(), BOUND_WORKFLOW_ID: binding.workflow_id.encode()}
        # The key id and the workflow are associated data: relabelling either fails authentication.
        aad = _associated_data(kid, binding)
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), aad)
            out.append(Payload(metadata=metadata, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(payload) for payload in payloads]

    def decode_one(self, payload: Payload) -> Payload:
        """Decrypt one payload, whatever workflow it is bound to (the binding is checked, not trusted)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ValueError(f"payload was encrypted with key {kid!r}, which is not among the configured codec keys")
        try:
            plain = cipher.decrypt(
                payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], _associated_data(kid, binding_of(payload))
            )
        except InvalidTag:
            raise ValueError(
                f"payload encrypted with key {kid!r} failed authentication (tampered or wrong key)"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def data_converter(settings: Settings, codec: CodecSettings | None = None) -> DataConverter:
    """pydantic conversion + encryption; failure messages and stack traces are encrypted too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys_for(settings, codec)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def _payloads_in(message: Message) -> list[Payload]:
    if isinstance(message, Payload):
        return [message]
    if isinstance(message, SearchAttributes):
        return []  # never encoded: Temporal indexes them
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif getattr(field, "is_repeated", False):
            values = list(value)
        else:
            values = [value]
        for v in values:
            if hasattr(v, "ListFields"):
                found += _payloads_in(v)
    return found


async def decoded_history(history: WorkflowHistory, codec: PayloadCodec) -> WorkflowHistory:
    """A copy of `history` with every payload decrypted: to commit for replay tests, which have no keys."""
    out = WorkflowHistory.from_json(history.workflow_id, history.to_json())
    for event in out.events:
        for payload in _payloads_in(event):
            [plain] = await codec.decode([payload])
            payload.CopyFrom(plain)
    return out
