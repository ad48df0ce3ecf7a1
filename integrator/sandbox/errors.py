"""The error bodies DIGIT answers with, as one exception type the app maps to HTTP once.

- tracer's ErrorRes `{"ResponseInfo":null,"Errors":[{code,message,description,params}]}`
  (docs/digit.md#errors),
- the gateway's 401/403/502 in the same shape (docs/digit.md#roles),
- egov-user's OAuth2 JSON `{"error","error_description"}` (docs/digit.md#lockout).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

UNHANDLED_MESSAGE = "An unhandled exception occurred on the server"


def error_entry(code: str, message: str, description: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "description": description, "params": None}


class SandboxError(Exception):
    """Any refusal: an HTTP status plus the exact JSON body DIGIT sends."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    @classmethod
    def errors(cls, entries: Iterable[dict[str, Any]], status: int = 400) -> SandboxError:
        """tracer's ErrorRes with several Errors (a CustomException(Map) or bean validation)."""
        return cls(status, {"ResponseInfo": None, "Errors": list(entries)})

    @classmethod
    def custom(cls, code: str, message: str, status: int = 400) -> SandboxError:
        """A `CustomException(code, message)`: one Error, description and params null."""
        return cls.errors([error_entry(code, message)], status)

    @classmethod
    def unhandled(cls, exception_class: str, status: int = 400) -> SandboxError:
        """An exception the service did not expect: code is the class name."""
        return cls.errors([error_entry(exception_class, UNHANDLED_MESSAGE)], status)

    @classmethod
    def oauth(cls, error: str, description: str, status: int = 400) -> SandboxError:
        return cls(status, {"error": error, "error_description": description})


def invalid_access_token() -> SandboxError:
    """egov-user's InvalidAccessTokenException, re-emitted by the gateway with HTTP 401."""
    return SandboxError.errors(
        [
            error_entry(
                "InvalidAccessTokenException", UNHANDLED_MESSAGE, "Invalid Access Token Exception"
            )
        ],
        401,
    )


def missing_token() -> SandboxError:
    message = "You are not authorized to access this resource"
    return SandboxError.errors([error_entry("CustomException", message, message)], 401)


def forbidden() -> SandboxError:
    message = "Not authorized to access this resource"
    return SandboxError.errors([error_entry("CustomException", message, message)], 403)


def backend_unreachable() -> SandboxError:
    message = "The backend service is unreachable"
    return SandboxError.errors([error_entry("ResourceAccessException", message, message)], 502)


def internal_server_error() -> SandboxError:
    return SandboxError.errors(
        [error_entry("InternalServerError", UNHANDLED_MESSAGE, "Internal Server Error")], 500
    )
