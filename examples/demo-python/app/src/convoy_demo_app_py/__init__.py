"""The demo's Python application."""

from convoy_demo_core_py import greet

MESSAGE = greet("convoy")
