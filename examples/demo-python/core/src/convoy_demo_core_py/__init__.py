"""The demo's Python core."""

__version__ = "0.2.0a1"


def greet(name: str) -> str:
    return f"hello, {name}"
