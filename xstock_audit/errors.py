"""Errors that reach the user.

`InputError` is bad input (exit code 2): it always names the file, and the line and field
when known. `RpcError` is a failed JSON-RPC exchange; its text never holds a raw URL.
"""

from __future__ import annotations

#: exit codes besides the audit's own 0/1/3 (`reconcile.exit_code`)
EXIT_INPUT = 2  # unusable input: command line, registry, attestation file
EXIT_INCOMPLETE = 3  # the audit is incomplete (also an internal error)
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM: a CI or cron timeout, `kill`


class XstockAuditError(Exception):
    """Base class for every error this package raises on purpose."""


class InputError(XstockAuditError):
    """Unusable input: a registry, an attestation file or a command-line value."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, self.field) if p]
        text = (": ".join(parts) + ": " if parts else "") + self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class RpcError(XstockAuditError):
    """A JSON-RPC request failed: transport, HTTP status, or a JSON-RPC error object."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        data: object = None,
        transient: bool = False,
    ) -> None:
        self.message = message
        self.code = code
        self.data = data
        self.transient = transient
        super().__init__(message)

    @property
    def is_revert(self) -> bool:
        """True when an eth_call failed because the contract reverted."""
        text = self.message.lower()
        return self.code == 3 or "revert" in text


class InputErrors(InputError):
    """Several input errors found at once; each is reported on its own line."""

    def __init__(self, items: list[InputError]) -> None:
        self.items = items
        first = items[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field)

    def render(self) -> str:
        if not getattr(self, "items", None):
            return super().render()
        return "\n".join(item.render() for item in self.items)
