"""Variant assignment: pure functions of a unit's hash draws, the same everywhere, every time.

A unit (a user, a session, an API key or a request) gets uniform draws in (0, 1) from a keyed hash of
(experiment id, salt, purpose, unit): BLAKE2b, never Python's `hash()`, which is salted per process.
So a unit lands in the same variant in every worker, process and restart.

Two decisions, each handed its draws (as TensorZero's static_weights is handed its uniform sample):

- **Enrolment**: a unit is in the experiment when its traffic draw is under `traffic_percentage`.
  Raising the percentage only adds units; lowering it only removes some.
- **Variant**: a weighted rendezvous ("exponential race"): each variant gets its own draw u_v, and the
  unit goes to the variant with the highest `w_v / -ln(u_v)`. Variant v wins with probability exactly
  w_v / sum(w). Changing one weight changes only that variant's score, so units move only *to* a
  variant whose weight grew or *from* one whose weight shrank: 50/50 -> 60/40 moves 10 % of units,
  the minimum. Adding or removing a variant moves only the units it takes or frees, and reordering
  the variants moves nobody (the draw is keyed on the variant's name, not its position).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from hashlib import blake2b

_SCALE = 2.0**-64
_SEP = b"\x1f"  # a byte no id, salt or purpose contains, so field boundaries cannot be forged


def draw_prefix(experiment_id: str, salt: str, purpose: str) -> bytes:
    """The fixed part of the hashed message for one experiment and purpose (computed once per config)."""
    return _SEP.join((experiment_id.encode(), salt.encode(), purpose.encode(), b""))


def draw_from(prefix: bytes, unit: str) -> float:
    """A uniform number in the open interval (0, 1) from `prefix` (see `draw_prefix`) and the unit."""
    digest = blake2b(prefix + unit.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) * _SCALE


def draw(experiment_id: str, salt: str, purpose: str, unit: str) -> float:
    """A uniform number in (0, 1) that depends only on the four strings."""
    return draw_from(draw_prefix(experiment_id, salt, purpose), unit)


def enrolled(traffic_fraction: float, traffic_draw: float) -> bool:
    """Whether a unit whose traffic draw is `traffic_draw` takes part (`traffic_fraction` in [0, 1])."""
    return traffic_draw < traffic_fraction


def pick_variant(weights: Sequence[float], draws: Sequence[float]) -> int:
    """The index of the winning variant: the highest `weight / -ln(draw)`; weight 0 never wins.

    `draws` are uniforms in (0, 1), one per variant. Raises ValueError when no weight is positive.
    """
    best, best_score = -1, -1.0
    for i, (weight, u) in enumerate(zip(weights, draws, strict=True)):
        if weight <= 0.0:
            continue
        score = weight / -math.log(u)
        if score > best_score:
            best, best_score = i, score
    if best < 0:
        raise ValueError("at least one weight must be positive")
    return best


def normalised(weights: Sequence[float]) -> tuple[float, ...]:
    total = float(sum(weights))
    return tuple(w / total for w in weights)
