"""Hypothesis strategies for hostile input: text in every script, overlong and control
characters, impossible dates, malformed identity and phone numbers, JSON of the wrong type.

Every property test in this folder is bounded (``BOUNDED``) and derandomized, so a CI run
tries the same examples each time and finishes in seconds.
"""

import string

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

BOUNDED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    # Each example posts through Django's test client inside the test's transaction and
    # asserts on the change it made; the function-scoped fixtures hold no per-example state.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Names and phrases from scripts a form meets: CJK (with an extension-B character), RTL
# (Arabic, Hebrew, with a direction override), emoji (with ZWJ sequences and skin tones),
# combining marks, full-width and zero-width characters.
SAMPLES = [
    "陳大文",
    "𠮷野家",
    "محمد عبد الله",
    "שלום \u202eevil",
    "👩‍👩‍👧‍👦🏳️‍🌈👍🏽",
    "Zalgo Z\u0351\u0358\u0336a\u0347\u0330l\u0315\u0327g\u0329o",
    "ＦＵＬＬ　ＷＩＤＴＨ",
    "\u200b\u200d\ufeff",
    "Robert'); DROP TABLE referrals_referral;--",
    "<script>alert(1)</script>",
    "{{ 7*7 }} {% now 'Y' %}",
    "%s %(x)s {0}",
]
CONTROL = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\u2028", "\r\n"])


def unicode_text(*, surrogates: bool = False, max_size: int = 120) -> st.SearchStrategy[str]:
    """Any text: every Unicode category (lone surrogates only where the transport carries
    them, i.e. JSON's ``\\ud800`` escapes), known hard samples, control characters and NUL,
    and text longer than any field's ``max_length``."""
    excluded = () if surrogates else ("Cs",)
    chars = st.characters(codec=None, exclude_categories=excluded)
    return st.one_of(
        st.text(chars, max_size=max_size),
        st.sampled_from(SAMPLES),
        st.builds(
            lambda a, c, b: a + c + b, st.sampled_from(SAMPLES), CONTROL, st.text(chars, max_size=8)
        ),
        st.integers(min_value=95, max_value=2000).map(lambda n: "長" * n),
        st.integers(min_value=95, max_value=400).map(lambda n: "x" * n),
    )


def bad_dates() -> st.SearchStrategy[str]:
    """Dates that do not exist, years no database holds, other formats."""
    return st.one_of(
        st.sampled_from(
            [
                "2025-02-30",
                "2023-02-29",
                "0000-01-01",
                "0001-01-01",
                "9999-12-31",
                "10000-01-01",
                "-0001-01-01",
                "2025-13-01",
                "2025-00-10",
                "31/12/2024",
                "12/31/2024",
                "2024年12月31日",
                "２０２４－０１－０１",
                "yesterday",
                "",
                " ",
                "2024-01-01T25:61",
                "1e10",
            ]
        ),
        st.dates().map(str),
        st.builds(
            "{:04d}-{:02d}-{:02d}".format,
            st.integers(0, 10000),
            st.integers(0, 13),
            st.integers(0, 32),
        ),
    )


UTC_OFFSETS = st.one_of(
    st.sampled_from(["Z", "+00:00", "-17:20", "+23:59", "-23:59", "+24:00", "+99:99", "+0800"]),
    st.builds(
        "{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 30), st.integers(0, 70)
    ),
)


def bad_datetimes() -> st.SearchStrategy[str]:
    """ISO-ish date-times with odd offsets and out-of-range years, and plain rubbish."""
    return st.one_of(
        st.builds(
            lambda date, time, offset: f"{date}T{time}{offset}",
            st.sampled_from(["0001-01-01", "9999-12-31", "2025-02-30", "2024-06-01", "0000-01-01"]),
            st.sampled_from(["00:00", "12:30:15", "23:59:59.999999", "24:00", "12:60"]),
            UTC_OFFSETS,
        ),
        st.datetimes().map(lambda d: d.isoformat()),
        bad_dates(),
        unicode_text(max_size=30),
    )


def bad_identity_numbers() -> st.SearchStrategy[str]:
    """HKID-shaped strings that are wrong: check digit, width, case, brackets, length."""
    return st.one_of(
        st.sampled_from(
            [
                "G123456(7)",
                "G123456A",
                "g123456(a)",
                "Ｇ１２３４５６（Ａ）",
                "G123456[A]",
                "G123456((A))",
                "G 123 456 (A)",
                "GG1234567",
                "A1234567",
                "123456(7)",
                "G123456(A",
                "G123456()",
                "A123456(10)",
                "A123456\x00(3)",
                "A123456(3)" * 3,
            ]
        ),
        st.builds(
            "{}{:06d}({})".format,
            st.text(string.ascii_letters, min_size=1, max_size=3),
            st.integers(0, 999999),
            st.sampled_from("0123456789AaXz"),
        ),
        unicode_text(max_size=25),
    )


def bad_phones() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "12",
                "+852",
                "+852 1234",
                "6123 45678",
                "+85261234567890",
                "０９８７６５４３",
                "tel:61234567",
                "+1 (555) 0100",
                "++85261234567",
                "61234567;ext=1",
                "\x0061234567",
            ]
        ),
        st.text(string.digits + " +-()", max_size=40),
        unicode_text(max_size=40),
    )


def json_values(max_leaves: int = 6) -> st.SearchStrategy:
    """Any JSON value: the wrong type for a field (list for an object, number as string,
    null, nesting), including lone surrogates in strings."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        unicode_text(surrogates=True, max_size=40),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.text(max_size=10), inner, max_size=3),
        ),
        max_leaves=max_leaves,
    )
