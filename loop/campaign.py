"""A spam campaign the 2002-2005 email corpus never saw, and the modern chat lines around it.

The SpamAssassin emails sell pills, loans and lotteries in long HTML mails; today's campaigns
are one-line SMS/chat messages: a parcel held at customs, a crypto wallet to "verify", a login
code to "confirm". Each message is a template with slots filled at random (carriers, amounts,
codes, look-alike domains), so no two lines are the same and a model cannot memorise one string.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

SPAM_TEMPLATES: tuple[str, ...] = (
    "Your parcel {tracking} is on hold at the depot. Pay the {amount} redelivery fee at {link} "
    "within {hours}h",
    "{carrier}: we could not deliver your package {tracking}. Confirm your address here {link}",
    "Customs fee of {amount} is due for shipment {tracking}. Settle now: {link} or it returns to sender",
    "Final notice: {carrier} parcel {tracking} will be destroyed unless you reschedule at {link}",
    "Your {wallet} wallet is locked after a suspicious login. Verify your seed phrase at {link}",
    "Congrats! You were picked for the {coin} airdrop: claim {coins} {coin} before {hours}h at {link}",
    "{wallet} support: sync your wallet to keep your {coin} funds safe {link}",
    "Withdrawal of {coins} {coin} pending. If this was not you, secure your {wallet} account: {link}",
    "{bank} alert: your MFA code is {code}. If you did not request it, cancel the transfer at {link}",
    "Someone tried to sign in to your {service} account. Reply with the 6-digit code {code} to block them",
    "Your {service} password expires today. Keep the same password at {link}",
    "{bank}: a payment of {amount} to {name} is on hold. Approve or decline at {link}",
    "Hi mum, I broke my phone, this is my new number. Can you send {amount} for rent today? {link}",
    "You have a pending refund of {amount} from {service}. Claim it at {link} before {hours}h",
)

BENIGN_TEMPLATES: tuple[str, ...] = (
    "hey are we still on for {meal} at {time}?",
    "running {minutes} min late, sorry! grab us a table",
    "can you send me the slides from {weekday}'s standup",
    "lol that {thing} was wild, did you see the ending",
    "pushed the fix to the {thing} branch, can you review when you have a sec",
    "happy birthday {name}!! hope you have a great day",
    "the train is delayed again, see you around {time}",
    "did you remember to water the plants? no worries if not",
    "meeting moved to {weekday} {time}, same room",
    "thanks for dinner yesterday, the {meal} was amazing",
    "can you pick up milk and {thing} on the way home",
    "ok sounds good, talk {weekday}",
)

SLOTS: dict[str, tuple[str, ...]] = {
    "carrier": ("ParcelNow", "Royal Post", "QuickShip", "EuroExpress", "PostNord", "DPD"),
    "wallet": ("MetaMask", "Ledger", "Trust Wallet", "Coinbase", "Phantom"),
    "coin": ("ETH", "BTC", "USDT", "SOL", "PEPE"),
    "bank": ("Chase", "Barclays", "Santander", "Revolut", "N26", "Monzo"),
    "service": ("Apple ID", "Microsoft 365", "PayPal", "Netflix", "Amazon", "Instagram"),
    "name": ("Alex", "Sam", "Jordan", "Priya", "Lena", "Tom"),
    "meal": ("lunch", "dinner", "brunch", "coffee", "pizza"),
    "weekday": ("monday", "tuesday", "wednesday", "thursday", "friday"),
    "thing": ("release", "show", "game", "match", "bread", "podcast"),
}
DOMAIN_WORDS = ("secure", "verify", "parcel", "wallet", "redeliver", "account", "claim", "support")
TLDS = ("top", "xyz", "info", "click", "live", "app")


@dataclass(frozen=True)
class Message:
    text: str
    label: int
    """1 = harmful (the campaign), 0 = benign chat: what a moderator would answer."""


def campaign(count: int, spam_share: float = 0.7, seed: int = 0) -> list[Message]:
    """``count`` messages, ``spam_share`` of them from the campaign, shuffled; same seed, same lines."""
    if not 0.0 <= spam_share <= 1.0:
        raise ValueError(f"spam_share must be in [0, 1], got {spam_share}")
    rng = random.Random(seed)
    spam = round(count * spam_share)
    messages = [Message(_fill(rng.choice(SPAM_TEMPLATES), rng), 1) for _ in range(spam)]
    messages += [Message(_fill(rng.choice(BENIGN_TEMPLATES), rng), 0) for _ in range(count - spam)]
    rng.shuffle(messages)
    return messages


def _fill(template: str, rng: random.Random) -> str:
    values = {slot: rng.choice(choices) for slot, choices in SLOTS.items()}
    values |= {
        "link": _link(rng),
        "tracking": "".join(rng.choices(string.ascii_uppercase, k=2)) + str(rng.randrange(10**8, 10**9)),
        "amount": f"{rng.choice(('£', '$', '€'))}{rng.randrange(1, 300)}.{rng.randrange(100):02d}",
        "coins": str(round(rng.uniform(0.05, 5000), 2)),
        "code": f"{rng.randrange(10**6):06d}",
        "hours": str(rng.choice((2, 6, 12, 24, 48))),
        "minutes": str(rng.choice((5, 10, 15, 20))),
        "time": f"{rng.randrange(7, 22)}:{rng.choice(('00', '15', '30', '45'))}",
    }
    return template.format(**values)


def _link(rng: random.Random) -> str:
    host = "-".join(rng.sample(DOMAIN_WORDS, 2))
    path = "".join(rng.choices(string.ascii_letters + string.digits, k=6))
    return f"https://{host}.{rng.choice(TLDS)}/{path}"
