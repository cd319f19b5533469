"""The Sieve syntax (RFC 5228 §8): tokens and grammar, positions in errors, limits, and a round
trip of generated trees through their source text."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pochta.sieve import Command, Number, ParseLimits, SieveSyntaxError, StringList, Tag, parse
from pochta.sieve import Test as SieveTest  # not "Test...": pytest would collect it
from pochta.sieve.lexer import MAX_NUMBER, tokenize
from pochta.sieve.syntax import Position

# RFC 5228 §9, the extended example, with CRLF line ends as §8.1 has them.
EXTENDED_EXAMPLE = "\r\n".join(
    [
        "#",
        "# Example Sieve Filter",
        "#",
        'require ["fileinto"];',
        'if header :is "Sender" "owner-ietf-mta-filters@imc.org"',
        "        {",
        '        fileinto "filter";  # move to "filter" mailbox',
        "        }",
        'elsif address :DOMAIN :is ["From", "To"] "example.com"',
        "        {",
        '        keep;               # keep in "In" mailbox',
        "        }",
        "elsif anyof (NOT address :all :contains",
        '               ["To", "Cc", "Bcc"] "me@example.com",',
        '             header :matches "subject"',
        '               ["*make*money*fast*", "*university*dipl*mas*"])',
        "        {",
        '        fileinto "spam";   # move to "spam" mailbox',
        "        }",
        "else",
        "        {",
        "        /* Move all other (non-company) mail to",
        '           "personal" mailbox. */',
        '        fileinto "personal";',
        "        }",
        "",
    ]
)

P = Position(0, 0)  # positions do not take part in equality


def strings(*values: str, bracketed: bool = False) -> StringList:
    return StringList(values, P, bracketed)


def test_the_extended_example_of_rfc_5228() -> None:
    require, if_, elsif_domain, elsif_spam, else_ = parse(EXTENDED_EXAMPLE)
    assert require == Command("require", (strings("fileinto", bracketed=True),), (), None, P)
    assert if_.name == "if"
    assert if_.tests == (
        SieveTest(
            "header", (Tag("is", P), strings("Sender"), strings("owner-ietf-mta-filters@imc.org")), (), P
        ),
    )
    assert if_.block == (Command("fileinto", (strings("filter"),), (), None, P),)
    # Identifiers and tags are case-insensitive (§8.1): :DOMAIN and NOT come out lower case.
    assert elsif_domain.tests[0].arguments[0] == Tag("domain", P)
    anyof = elsif_spam.tests[0]
    assert anyof.name == "anyof"
    assert [test.name for test in anyof.tests] == ["not", "header"]
    assert anyof.tests[0].tests[0].arguments[-1] == strings("me@example.com")
    assert else_.block == (Command("fileinto", (strings("personal"),), (), None, P),)
    assert if_.position == Position(5, 1)
    assert elsif_spam.tests[0].tests[1].position == Position(15, 14)


def test_bare_lf_line_ends_parse_as_crlf_does() -> None:
    assert parse(EXTENDED_EXAMPLE.replace("\r\n", "\n")) == parse(EXTENDED_EXAMPLE)


def test_multi_line_strings_with_dot_stuffing_and_a_comment_after_text() -> None:
    script = "vacation text: # the reply\r\nHello,\r\n..dotted\r\n...\r\n\r\n.\r\n;"
    (command,) = parse(script)
    assert command.arguments == (strings("Hello,\r\n.dotted\r\n..\r\n\r\n"),)
    lf_only = parse("vacation text:\nline one\n.\n;")
    assert lf_only[0].arguments == (strings("line one\r\n"),)


def test_quoted_string_escapes() -> None:
    # RFC 5228 §2.4.2: \" and \\ stand for themselves; a backslash before any other character
    # stands for that character.
    (command,) = parse(r'x "a\"b\\c\d" "line' + "\nnext" + '";')
    assert command.arguments == (strings('a"b\\cd'), strings("line\r\nnext"))


def test_numbers_take_their_quantifier() -> None:
    (command,) = parse("x 0 10 2k 3M 1G 4g;")
    assert [argument for argument in command.arguments] == [
        Number(0, P),
        Number(10, P),
        Number(2048, P),
        Number(3 * 1024**2, P),
        Number(1024**3, P),
        Number(4 * 1024**3, P),
    ]
    assert parse(f"x {MAX_NUMBER};")[0].arguments == (Number(MAX_NUMBER, P),)


def test_empty_blocks_and_scripts() -> None:
    assert parse("") == ()
    assert parse("# only a comment") == ()
    assert parse("/* only */ /* comments */") == ()
    (command,) = parse("if true {}")
    assert command.block == ()
    assert command.tests == (SieveTest("true", (), (), P),)


@pytest.mark.parametrize(
    ("script", "where", "says"),
    [
        (
            "keep",
            Position(1, 5),
            "expected ';' or '{' after the arguments of 'keep', found end of the script",
        ),
        ("if true { keep;", Position(1, 9), "the block of 'if' opened here is not closed"),
        ("keep; }", Position(1, 7), "unexpected '}': no block is open here"),
        ('fileinto "abc', Position(1, 10), "the string opened here has no closing"),
        ("keep; /* open", Position(1, 7), "the comment opened here never ends"),
        ("keep;\rdiscard;", Position(1, 6), "a CR must be followed by LF"),
        ("keep;\0", Position(1, 6), "a NUL character is not allowed"),
        ("keep; @", Position(1, 7), "unexpected character '@'"),
        ("x : is;", Position(1, 3), "':' must be followed by a tag name"),
        ("x 12ab;", Position(1, 5), "a number must be followed by a space or a separator, not 'a'"),
        (f"x {MAX_NUMBER + 1};", Position(1, 3), "is larger than"),
        ("x 99999999999G;", Position(1, 3), "is larger than"),
        ("x [];", Position(1, 4), "expected a string in the list, found ']'"),
        ('x ["a" "b"];', Position(1, 8), "expected ',' or ']' in the string list, found string"),
        ("if anyof (true; false) {}", Position(1, 15), "expected ',' or ')' in the test list"),
        ("if anyof () {}", Position(1, 11), "expected a test, found ')'"),
        ("if anyof (true, 1) {}", Position(1, 17), "expected a test, found number 1"),
        ('"a";', Position(1, 1), "expected a command, found string"),
        ("vacation text: x\r\n.\r\n;", Position(1, 16), "'text:' must be followed by the end of the line"),
        ("vacation text:\r\nno end\r\n", Position(1, 10), "has no line with a single '.'"),
        ("vacation text:\r\nno end\r\n.", Position(1, 10), "has no line with a single '.'"),
        ('x "a\\\r\nb";', Position(1, 5), "a backslash in a string must be followed"),
        ("keep;\r\n\r\n  stop\r\n", Position(4, 1), "found end of the script"),
    ],
)
def test_errors_name_the_place(script: str, where: Position, says: str) -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        parse(script)
    assert caught.value.position == where
    assert says in caught.value.message
    assert str(caught.value).startswith(f"line {where.line}, column {where.column}: ")


def test_nesting_and_list_limits() -> None:
    limits = ParseLimits(max_block_nesting=3, max_test_nesting=3, max_list_items=3)
    assert parse("if true { if true { if true { keep; } } }", limits)
    with pytest.raises(SieveSyntaxError, match="blocks are nested more than 3 deep"):
        parse("if true { if true { if true { if true { keep; } } } }", limits)
    assert parse("if not not true { keep; }", limits)
    with pytest.raises(SieveSyntaxError, match="tests are nested more than 3 deep"):
        parse("if not not not true { keep; }", limits)
    assert parse('x ["a", "b", "c"];', limits)
    with pytest.raises(SieveSyntaxError, match="at most 3 strings"):
        parse('x ["a", "b", "c", "d"];', limits)
    with pytest.raises(SieveSyntaxError, match="at most 3 tests"):
        parse("if anyof (true, true, true, true) {}", limits)


def test_the_default_limits_keep_a_hostile_script_off_the_stack() -> None:
    with pytest.raises(SieveSyntaxError, match="nested more than 32 deep"):
        parse("if " + "not " * 100_000 + "true {}")
    with pytest.raises(SieveSyntaxError, match="nested more than 32 deep"):
        parse("if true {" * 100_000)


def test_tokens_know_multi_line_strings_and_lower_case_names() -> None:
    kinds = [(token.kind, token.text, token.multiline) for token in tokenize("IF :IS text:\r\na\r\n.\r\n")]
    assert kinds == [
        ("identifier", "if", False),
        ("tag", "is", False),
        ("string", "a\r\n", True),
        ("end", "", False),
    ]


# -- a round trip of generated trees ----------------------------------------------------------

_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: name.lower() != "text"
)
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\r\n"), max_size=20)
_lines = st.lists(_text, max_size=4).map(lambda lines: "".join(line + "\r\n" for line in lines))
_string_values = st.one_of(_text, _lines)
_string_lists = st.builds(
    lambda values, bracketed: StringList(tuple(values), P, bracketed or len(values) > 1),
    st.lists(_string_values, min_size=1, max_size=3),
    st.booleans(),
)
_arguments = st.one_of(
    _string_lists,
    st.builds(lambda value: Number(value, P), st.integers(0, MAX_NUMBER)),
    st.builds(lambda name: Tag(name.lower(), P), _names),
)
_tests = st.recursive(
    st.builds(
        lambda name, args: SieveTest(name.lower(), tuple(args), (), P),
        _names,
        st.lists(_arguments, max_size=3),
    ),
    lambda inner: st.builds(
        lambda name, args, tests: SieveTest(name.lower(), tuple(args), tuple(tests), P),
        _names,
        st.lists(_arguments, max_size=2),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)
_commands = st.recursive(
    st.builds(
        lambda name, args, tests: Command(name.lower(), tuple(args), tuple(tests), None, P),
        _names,
        st.lists(_arguments, max_size=3),
        st.lists(_tests, max_size=2),
    ),
    lambda inner: st.builds(
        lambda name, tests, block: Command(name.lower(), (), tuple(tests), tuple(block), P),
        _names,
        st.lists(_tests, max_size=1),
        st.lists(inner, max_size=3),
    ),
    max_leaves=8,
)


def _source_string(value: str, use_multi_line: bool) -> str:
    if (use_multi_line and value.endswith("\r\n")) or value == "":
        body = "".join(
            ("." + line if line.startswith(".") else line) + "\r\n" for line in value.split("\r\n")[:-1]
        )
        return "text:\r\n" + body + ".\r\n"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _source_arguments(arguments: tuple[object, ...], tests: tuple[SieveTest, ...]) -> str:
    parts: list[str] = []
    for argument in arguments:
        if isinstance(argument, StringList):
            items = [_source_string(value, index % 2 == 0) for index, value in enumerate(argument.values)]
            parts.append("[" + ", ".join(items) + "]" if argument.bracketed else items[0])
        elif isinstance(argument, Number):
            parts.append(str(argument.value))
        elif isinstance(argument, Tag):
            parts.append(":" + argument.name.upper())
    if len(tests) == 1:
        parts.append(_source_test(tests[0]))
    elif tests:
        parts.append("(" + ", ".join(_source_test(test) for test in tests) + ")")
    return " ".join(parts)


def _source_test(test: SieveTest) -> str:
    return f"{test.name} {_source_arguments(test.arguments, test.tests)}"


def _source(commands: tuple[Command, ...]) -> str:
    out: list[str] = []
    for command in commands:
        head = f"{command.name} {_source_arguments(command.arguments, command.tests)}"
        out.append(
            head + (" ;" if command.block is None else " {\r\n" + _source(command.block) + "}") + "\r\n"
        )
    return "# generated\r\n" + "".join(out)


@given(st.lists(_commands, max_size=4))
def test_generated_trees_survive_their_source_text(commands: list[Command]) -> None:
    tree = tuple(commands)
    assert parse(_source(tree)) == tree


@given(st.text(max_size=200))
@example("text:\r\n")
@example("if anyof(")
@example("x [")
def test_any_text_is_a_tree_or_a_syntax_error(script: str) -> None:
    try:
        parse(script)
    except SieveSyntaxError as error:
        where = error.position
    else:
        return
    # The place is inside the script (or just past its end): a line and column that exist.
    lines = script.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert 1 <= where.line <= len(lines)
    assert 1 <= where.column <= len(lines[where.line - 1]) + 1


# Several errors in one upload: the lexer goes on after an error inside a token, the parser
# after an error inside a command (see the parser's "Recovery"), each error at its place.


def errors_of(script: str, limits: ParseLimits | None = None) -> list[tuple[int, str]]:
    with pytest.raises(SieveSyntaxError) as caught:
        parse(script, limits)
    return [(error.position.line, error.message) for error in caught.value.errors]


def test_every_error_is_reported_with_its_place() -> None:
    script = (
        "if size :under 99999999999999999999 { stop; }\n"  # a number too large: lexer, goes on
        "keep\n"  # missing ';': the next token is taken as keep's test, so no error here
        "discard;\n"
        "if true { keep }\n"  # missing ';' before the end of the block
        "fileinto $$ ;\n"  # characters no token starts with: the lexer's error and the parser's
        "if anyof(true,) { stop; }\n"  # a comma before ')'
        "stop;\n"
    )
    found = errors_of(script)
    assert [line for line, _ in found] == [1, 4, 5, 5, 6]
    assert "larger than" in found[0][1]
    assert "expected ';' or '{'" in found[1][1]
    assert found[2][1] == "unexpected characters '$$'"
    assert "expected a test" in found[4][1]
    with pytest.raises(SieveSyntaxError) as caught:
        parse(script)
    assert str(caught.value).splitlines()[0] == str(caught.value.errors[0])
    assert len(str(caught.value).splitlines()) == 5


def test_recovery_skips_a_broken_command_with_its_block() -> None:
    # The block of a command in error is skipped whole; the commands after it are read again.
    found = errors_of("if anyof(true,) {\n if true { keep; }\n}\nkeep keep;\nstop stop\n")
    assert [line for line, _ in found] == [1, 6]  # the last at the end of the script


def test_a_string_that_never_ends_stops_the_scan_but_earlier_errors_stay() -> None:
    found = errors_of('if size :over 99999999999999999999 { stop; }\nfileinto "never ends;\n')
    assert [line for line, _ in found] == [1, 2]


def test_error_count_and_arguments_are_bounded() -> None:
    many = "keep,;\n" * 30
    assert len(errors_of(many, ParseLimits(max_errors=5))) == 5
    assert errors_of("frop" + ' "x"' * 33 + ";")[0][1] == "a command or test takes at most 32 arguments"
    assert parse("frop" + ' "x"' * 32 + ";")[0].name == "frop"


def test_identifiers_are_bounded() -> None:
    assert parse("if " + "t" * 32 + " { stop; }")[0].name == "if"
    assert "longer than 32" in errors_of("if " + "t" * 33 + " { stop; }")[0][1]


@pytest.mark.parametrize("script", ["keep / stop;", "/", "keep;/", "a /x/ b;", "\u00e9;"])
def test_a_character_that_starts_no_token_is_one_error_and_the_scan_goes_on(script: str) -> None:
    found = errors_of(script)
    assert found[0][1].startswith("unexpected character")
    assert len(found) <= 3
