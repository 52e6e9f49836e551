"""The issuer country of a card, by its BIN: one lookup for risk scoring and routing. Pure.

The table is ``[bin_countries]`` of the risk rules file (shipped:
riskengine/default_rules.toml), reloaded with it. The risk feature
``card_country`` and routing's ``country`` condition both come from this
function over that one table, so a rule file edit changes both at once and
the two can never disagree about a card.
"""

from __future__ import annotations

from collections.abc import Mapping


def issuer_country(bin_countries: Mapping[str, str], card_bin: str) -> str:
    """The ISO 3166 alpha-2 country of the longest known prefix of ``card_bin``, or ``""``."""
    for length in range(len(card_bin), 0, -1):
        country = bin_countries.get(card_bin[:length])
        if country:
            return country
    return ""
