"""Errors raised by the Pulumi programs and the smoke test; each message names what was wrong and
what was expected, so the CLI can print it without a traceback."""

# pyright: strict

from __future__ import annotations

from model.errors import ModelstageError


class InfraError(ModelstageError):
    """Base class for errors of the infra layer."""


class SpecError(InfraError):
    """The stack configuration is missing a value, has a wrong one, or contradicts itself."""


class SmokeError(InfraError):
    """The smoke test could not run: unreadable stack outputs, a missing output, a bad bundle."""


class SmokeFailed(SmokeError):
    """The deployed endpoint did not answer the sample request as the bundle's schema says, or too slowly."""

    exit_code = 1
