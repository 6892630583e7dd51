"""The web console (``/`` of ``harness serve``): live journal, exchanges with their verdicts, vendors, sessions,
platforms, try-it. Server-rendered; vanilla JS from the package; nothing fetched from elsewhere. docs/console.md."""

from harness.console.app import Console, ConsoleMount, create_console, is_console_path

__all__ = ["Console", "ConsoleMount", "create_console", "is_console_path"]
