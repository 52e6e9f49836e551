"""The card vault: full card numbers stored envelope-encrypted, referred to by token.

- ``envelope``: AES-256-GCM sealing with a per-record data key wrapped by a key-encryption key;
- ``keyring``: the key-encryption keys from configuration, and which one is active;
- ``records``: what the vault stores and shows (``StoredCard``, ``CardToken``);
- ``service``: ``CardVault``, tokenize / read / reveal for payment / rotate.

Kept free of imports here: ``core.config`` validates keys with ``keyring``,
which must not pull in the service layer.
"""
