"""The one error type for problems the user can fix: it becomes one line on stderr and exit 2."""


class InputError(Exception):
    """Bad input: a missing path, an unreadable repository, an unknown revision or option."""
