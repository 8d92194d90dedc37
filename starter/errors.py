"""User-facing errors: one line, a clear exit code, never a traceback.

A typo in a config, a missing dataset or an assignment that is not implemented yet are
problems the user fixes by reading one sentence. Bugs in the course's own code still get
a full traceback, because hiding those helps nobody.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2  # bad config, bad path, bad option: same code argparse uses
EXIT_NOT_IMPLEMENTED = 3  # a feature was enabled whose assignment is still a stub


class CourseError(Exception):
    """A problem the user can fix. Printed as `error: <message>`, exit code 2."""


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Call `main(argv)` and turn user-facing errors into a one-line message and an exit code."""
    try:
        return main(argv)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except NotImplementedError as err:
        # Stubs raise NotImplementedError("A7: implement ... in assignments/...py").
        print(f"not implemented yet: {err}", file=sys.stderr)
        return EXIT_NOT_IMPLEMENTED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def choice_error(key: str, value: object, choices: Sequence[str], source: str = "") -> CourseError:
    """`key=value` is not one of `choices`: name them all, and suggest the closest."""
    from difflib import get_close_matches

    close = get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    hint = f" did you mean '{close[0]}'?" if close else ""
    where = f" (in {source})" if source else ""
    return CourseError(
        f"{key}={value!r} is not a valid choice{where};{hint} valid choices: {', '.join(map(str, choices))}"
    )
