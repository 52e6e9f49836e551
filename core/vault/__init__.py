"""The card vault: full card numbers stored envelope-encrypted, referred to by token.

- ``envelope``: AES-256-GCM sealing with a per-record data key wrapped by a key-encryption key;
- ``keyring``: the key-encryption keys from configuration, and which one is active;
- ``records``: what the vault stores and shows (``StoredCard``, ``CardToken``);
- ``secrets``: webhook signing secrets sealed at rest with the same keys.

Pure computation, no I/O: the use cases (tokenize / read / reveal for payment /
rotate) are ``CardVault`` in ``core/service/card_vault.py``, an application
module like the other features. Kept free of imports here: ``core.config``
validates keys with ``keyring``.
"""
