"""What the Sieve tests share: the check that a script fails to compile with a given error."""

from __future__ import annotations

import pytest

from pochta.sieve import SieveSyntaxError, compile_script


def assert_compile_error(script: str, says: str) -> SieveSyntaxError:
    """``script`` does not compile, and its error says ``says``; returns the error."""
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(script)
    assert says in caught.value.message
    assert caught.value.position.line >= 1
    return caught.value
