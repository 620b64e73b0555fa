"""Errors the onboarding services raise for what a page cannot fix by itself."""

from __future__ import annotations


class OnboardingError(Exception):
    """Base for every onboarding failure; ``code`` is stable across API, logs and support."""

    code = "onboarding_error"


class AttemptNotFound(OnboardingError):
    code = "attempt_not_found"


class AttemptExpired(OnboardingError):
    code = "attempt_expired"


class AttemptClosed(OnboardingError):
    """The attempt was already authorized or cancelled."""

    code = "attempt_closed"


class StepNotReached(OnboardingError):
    """The admin asked for a step whose earlier steps are not complete."""

    code = "step_not_reached"

    def __init__(self, step_reached: int) -> None:
        super().__init__(f"Complete step {step_reached} first.")
        self.step_reached = step_reached


class InvalidInput(OnboardingError):
    """A request the page's own form cannot express (a stale or crafted submission)."""

    code = "invalid_input"
