"""3-D Secure: the sandbox issuer (directory server and ACS page), the challenges' completion
and their expiry sweep."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import asyncpg

from core.callbacks.acs import SandboxAcs
from core.callbacks.challenge_completion import ChallengeCompletionIngress
from core.config import Settings
from core.service.card_vault import CardVault
from core.service.execution import RequestExecutor
from core.service.payments.authorize import Authorization
from core.service.payments.challenges import ChallengeCompletion
from core.service.payments.three_ds import ThreeDSecure, ThreeDSSettings
from core.storage.authentications import PostgresChallengeReads
from core.storage.unit_of_work import PostgresPaymentRepository


@dataclass(frozen=True, slots=True)
class ThreeDS:
    """The authentication step (for the payment service) and the sandbox issuer's pages."""

    authentication: ThreeDSecure
    acs: SandboxAcs
    secret: bytes


def build_three_ds(settings: Settings, vault: CardVault) -> ThreeDS:
    """The sandbox issuer, signing its results with ``channels.three_ds_secret``."""
    channels = settings.channels
    # Unset: a secret of this process's own (its ACS page and completion endpoint are one).
    secret = (channels.three_ds_secret or secrets.token_hex(32)).encode()
    acs = SandboxAcs(secret=secret)
    authentication = ThreeDSecure(
        directory=acs,
        vault=vault,
        settings=ThreeDSSettings(challenge_expiry_s=channels.three_ds_challenge_expiry_s),
    )
    return ThreeDS(authentication, acs, secret)


def build_challenge_completion(
    settings: Settings,
    three_ds: ThreeDS,
    *,
    pool: asyncpg.Pool,
    executor: RequestExecutor,
    repository: PostgresPaymentRepository,
    vault: CardVault,
    authorization: Authorization,
    background: list[asyncio.Task[None]],
) -> ChallengeCompletionIngress:
    """The completion endpoint; the expiry sweep joins ``background``."""
    completion = ChallengeCompletion(
        executor=executor,
        repository=repository,
        reads=PostgresChallengeReads(pool),
        vault=vault,
        authorization=authorization,
        sweep_interval_s=settings.channels.three_ds_sweep_interval_s,
    )
    background.append(asyncio.create_task(completion.run(asyncio.Event())))
    return ChallengeCompletionIngress(completion=completion, secret=three_ds.secret)
