"""The parts other apps add to the demo."""

from collections.abc import Callable

# The parts other apps add to the demo (outreach's visit lists): ``seed_demo`` runs each
# after its own, so one command still builds the whole demo, while referrals imports none
# of those apps (they sit above it in the layers). A part takes the command's ``write``.
_DEMO_PARTS: list[Callable[[Callable[[str], None]], None]] = []


def register_part(part: Callable[[Callable[[str], None]], None]) -> None:
    if part not in _DEMO_PARTS:
        _DEMO_PARTS.append(part)


def other_parts() -> list[Callable[[Callable[[str], None]], None]]:
    return list(_DEMO_PARTS)
