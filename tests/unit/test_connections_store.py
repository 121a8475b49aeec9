import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.connections_store import SecretBox, SecretKeyMissing, secret_hint


def test_secrets_are_sealed_and_no_part_of_them_is_shown():
    box = SecretBox(SecretStr(Fernet.generate_key().decode()))
    secret = SecretStr("pat-abcdefghijklmnop1234")
    sealed = box.seal(secret)
    assert "abcdefghijklmnop" not in sealed and sealed != box.seal(secret)  # fresh IV each time
    assert box.open(sealed).get_secret_value() == secret.get_secret_value()
    # A secret's tail is still part of the secret: the hint says only that one is saved.
    assert secret_hint(secret) == "saved" and secret_hint(SecretStr("short")) == "saved"


def test_a_missing_or_wrong_key_is_a_clear_error():
    with pytest.raises(SecretKeyMissing, match="MIGRAYT_SECRET_KEY"):
        SecretBox(None)
    with pytest.raises(SecretKeyMissing, match="not a valid Fernet key"):
        SecretBox(SecretStr("nope"))
    sealed = SecretBox(SecretStr(Fernet.generate_key().decode())).seal(SecretStr("x" * 20))
    with pytest.raises(SecretKeyMissing, match="cannot be decrypted"):
        SecretBox(SecretStr(Fernet.generate_key().decode())).open(sealed)
