"""Errors raised by referral-orchestrator.

Every error carries a stable ``code`` (assert on it, not on message text) and an
``exit_code`` the CLI maps to in one place. Messages say how to fix the problem.

The tree::

    ReferralError                  root; exit 1
    ├── UsageError                 the caller asked for something invalid; exit 2
    │   ├── InvalidRequest         a launch request field is wrong (date, channel, name, ...)
    │   ├── PlanNotFound           no plan with that id or path
    │   ├── InvalidDecision        an approval / escalation decision that does not fit the plan
    │   ├── ModelConfigError       unknown model id, missing or rejected API key
    │   ├── PlanBusy               another command holds the plan's lock past the timeout
    │   └── OutFolderTaken         --out holds files that are not this plan's
    ├── PlanError                  a plan file cannot be trusted; exit 3
    │   ├── PlanInvalid            fails plans/plan.schema.json, or is not readable JSON
    │   ├── PlanIdentity           the file is a link, or its name and plan_id disagree
    │   ├── PlanTampered           the transition hash chain or body digest does not match
    │   │   ├── PlanUnsigned       a signing key is set and the plan carries no signature
    │   │   └── BadSignature       the signature does not match (re-sealed without the key)
    │   ├── ArtifactsTampered      a deliverable differs from the digest the plan recorded
    │   └── CheckpointMismatch     the checkpoints are missing or belong to another run
    ├── StorageError               a file could not be written (disk full, permissions); exit 1
    ├── RunHalted                  the rip-cord was pulled; the plan is closed; exit 4
    └── AgentError                 an agent step failed (fed to the guardrails, never to users);
        │                          ``.usage`` carries what the step was billed for
        ├── AgentUnavailable       the agent is marked unavailable
        ├── AgentTimeout           the model did not answer in time
        ├── TransientModelError    429 / 529 / 5xx / connection errors, retried inside the runner
        ├── InvalidAgentOutput     the output did not match the stage's schema
        └── BudgetExceeded         the next model call would pass --max-cost-usd (escalates)
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: errors load with --help, which should not pay for typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ReferralError(Exception):
    """Root of every error this package raises on purpose."""

    code = "referral_error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The one-line, fix-naming message."""
        return str(self.args[0]) if self.args else self.code


class UsageError(ReferralError):
    """The caller asked for something invalid; nothing was written."""

    code = "usage"
    exit_code = 2


class InvalidRequest(UsageError):
    """A launch request field is invalid."""

    code = "invalid_request"


class PlanNotFound(UsageError):
    """No plan matches the id or path given."""

    code = "plan_not_found"


class InvalidDecision(UsageError):
    """An approval or escalation decision that does not fit the plan's state."""

    code = "invalid_decision"


class ModelConfigError(UsageError):
    """The model option cannot be used (unknown id, missing or rejected key)."""

    code = "model_config"


class PlanBusy(UsageError):
    """Another command holds the plan's lock and did not let go within the timeout."""

    code = "plan_busy"


class StoreNotMigrated(UsageError):
    """The database has no tables of this version yet: ``store migrate`` creates them."""

    code = "store_not_migrated"


class OutFolderTaken(UsageError):
    """The artifact folder holds files of another plan, or of nobody."""

    code = "out_folder_taken"


class PlanError(ReferralError):
    """A plan file fails validation and is refused."""

    code = "plan_error"
    exit_code = 3


class PlanInvalid(PlanError):
    """The plan does not match schemas/plan.schema.json."""

    code = "plan_invalid"


class PlanIdentity(PlanError):
    """The plan file is a symbolic link, or its ``plan_id`` is not its file name."""

    code = "plan_identity"


class PlanTampered(PlanError):
    """The transition hash chain or the body digest does not match."""

    code = "plan_tampered"


class PlanUnsigned(PlanTampered):
    """A signing key is configured and the plan carries no signature."""

    code = "plan_unsigned"


class BadSignature(PlanTampered):
    """The plan's signature does not match: it was re-sealed without the signing key."""

    code = "bad_signature"


class ArtifactsTampered(PlanError):
    """A deliverable on disk differs from the SHA-256 the plan recorded for it."""

    code = "artifacts_tampered"


class CheckpointMismatch(PlanError):
    """The run's checkpoints are missing or are not this plan's (another run's thread)."""

    code = "checkpoint_mismatch"


class StorageError(ReferralError):
    """A file or the checkpoint database could not be written; the plan stays valid."""

    code = "storage"


class RunHalted(ReferralError):
    """The exec sponsor pulled the rip-cord; the plan is closed for good."""

    code = "halted"
    exit_code = 4


class AgentError(ReferralError):
    """An agent step failed; the guardrails decide what happens next.

    ``usage`` is what the failed step was billed for before it failed (a runner's
    ``Usage``: invalid answers, the re-ask, billed errors), so no spend goes uncounted.
    """

    code = "agent_error"
    usage: Any = None


class AgentUnavailable(AgentError):
    """The agent is unavailable and its work must go to a substitute."""

    code = "agent_unavailable"


class AgentTimeout(AgentError):
    """The agent's model did not answer in time."""

    code = "agent_timeout"


class TransientModelError(AgentError):
    """A retryable provider failure (rate limit, overload, 5xx, connection)."""

    code = "transient_model_error"


class InvalidAgentOutput(AgentError):
    """The agent's output did not validate against the stage's output type."""

    code = "invalid_agent_output"


class BudgetExceeded(AgentError):
    """The launch's model spend would pass ``max_cost_usd``; the ladder decides what next."""

    code = "budget_exceeded"
