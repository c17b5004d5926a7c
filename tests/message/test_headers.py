"""Header parsed forms (RFC 8621 §4.1.2) and their edge cases."""

from __future__ import annotations

import pytest

from jmap.message import form_allowed, header_values, parse_form, parse_header_property
from jmap.message.headers import (
    as_addresses,
    as_date,
    as_grouped_addresses,
    as_message_ids,
    as_text,
    as_urls,
    raw_form,
    split_header_block,
)


def test_rfc_example_addresses_and_groups():
    value = (
        '"  James Smythe" <james@example.com>, Friends: jane@example.com, '
        "=?UTF-8?Q?John_Sm=C3=AEth?= <john@example.com>;"
    )
    assert as_addresses(value) == [
        {"name": "James Smythe", "email": "james@example.com"},
        {"name": None, "email": "jane@example.com"},
        {"name": "John Smîth", "email": "john@example.com"},
    ]
    assert as_grouped_addresses(value) == [
        {"name": None, "addresses": [{"name": "James Smythe", "email": "james@example.com"}]},
        {
            "name": "Friends",
            "addresses": [
                {"name": None, "email": "jane@example.com"},
                {"name": "John Smîth", "email": "john@example.com"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jdoe@example.com", [{"name": None, "email": "jdoe@example.com"}]),
        ("<jdoe@example.com>", [{"name": None, "email": "jdoe@example.com"}]),
        ("jdoe@example.com (John Doe)", [{"name": "John Doe", "email": "jdoe@example.com"}]),
        (
            "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
            [{"name": "Pete", "email": "pete@silly.test"}],
        ),
        ('"Doe, John" <j@x.test>', [{"name": "Doe, John", "email": "j@x.test"}]),
        ('"a \\"quoted\\" name" <q@x.test>', [{"name": 'a "quoted" name', "email": "q@x.test"}]),
        ("=?utf-8?Q?Doe,_John?= <j@x.test>", [{"name": "Doe, John", "email": "j@x.test"}]),
        ("<@route.test:user@x.test>", [{"name": None, "email": "user@x.test"}]),
        ("undisclosed-recipients:;", []),
        (
            " , a@x.test,, b@x.test ,",
            [{"name": None, "email": "a@x.test"}, {"name": None, "email": "b@x.test"}],
        ),
        ("John Smith john@x.test", [{"name": "John Smith", "email": "john@x.test"}]),
        ("not an address", [{"name": None, "email": "not an address"}]),
        ("", []),
    ],
)
def test_addresses_edge_cases(value, expected):
    assert as_addresses(value) == expected


def test_grouped_addresses_keep_empty_group_and_loose_runs():
    groups = as_grouped_addresses("a@x.test, Team: b@x.test, c@x.test;, d@x.test, Empty:;")
    assert [g["name"] for g in groups] == [None, "Team", None, "Empty"]
    assert [len(g["addresses"]) for g in groups] == [1, 2, 1, 0]


def test_unterminated_group_and_quote_do_not_raise():
    assert as_grouped_addresses("Team: a@x.test, b@x.test")[0]["name"] == "Team"
    assert as_addresses('"unterminated <a@x.test>')  # best effort, no exception


def test_text_unfold_trim_decode_nfc():
    assert as_text(b" Hello\r\n  world ") == "Hello  world "
    # combining diaeresis normalised to NFC
    assert as_text(" Cafe\u0301") == "Caf\u00e9"
    assert as_text("=?ISO-8859-1?Q?Die_Hasen_und_die_Fr=F6sche?=") == "Die Hasen und die Frösche"


def test_text_encoded_word_split_mid_character():
    # "é" (C3 A9) split across two encoded words, B then Q
    assert as_text("=?utf-8?B?w6k=?=") == "é"
    assert as_text("caf=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=") != "café"  # glued to a word: not decoded
    assert as_text("x =?utf-8?Q?caf=C3?= =?utf-8?B?qQ==?= y") == "x café y"
    split_b = (
        "=?UTF-8?B?44G+44G/44KA44KB44KC44G+44G/44KA44KB44KC44G+44G/44KA?=\r\n =?UTF-8?B?44KB44KC?="
    )
    assert as_text(split_b) == "まみむめもまみむめもまみむめも"


def test_text_whitespace_between_encoded_words_only_dropped():
    assert as_text("=?utf-8?q?a?= =?utf-8?q?b?=") == "ab"
    assert as_text("=?utf-8?q?a?= b =?utf-8?q?c?=") == "a b c"
    assert as_text("=?utf-8?q?a_b?=") == "a b"


def test_text_unknown_and_wrong_charsets():
    # unknown charset: fall back to UTF-8 / windows-1252 rather than dropping the text
    assert as_text("=?x-unknown?Q?caf=C3=A9?=") == "café"
    assert as_text("=?NONE?B?VEVTVA=?=") == "TEST"
    # declared us-ascii but holds UTF-8
    assert as_text("=?us-ascii?Q?caf=C3=A9?=") == "café"
    # declared utf-8 but holds latin-1: never raises, keeps the other text
    assert as_text("=?utf-8?Q?caf=E9?= ok").endswith(" ok")


def test_text_control_characters_from_encoded_words_dropped():
    assert as_text("=?utf-8?Q?a=00b=07c?=") == "abc"


def test_text_malformed_encoded_word_left_alone():
    assert as_text("=?utf-8?Q?no end") == "=?utf-8?Q?no end"
    assert as_text("=?utf-8?X?abc?=") == "=?utf-8?X?abc?="


def test_message_ids():
    assert as_message_ids(" <a@b.test>") == ["a@b.test"]
    assert as_message_ids(" <a@b.test>\r\n\t<c@d.test> (comment) <e\r\n @f.test>") == [
        "a@b.test",
        "c@d.test",
        "e@f.test",
    ]
    assert as_message_ids("bare@id.test") == ["bare@id.test"]
    assert as_message_ids("") is None
    assert as_message_ids("garbage") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Wed, 17 May 2000 19:32:47 -0400", "2000-05-17T19:32:47-04:00"),
        ("Tue, 1 Jul 2003 10:52:37 +0200", "2003-07-01T10:52:37+02:00"),
        ("Fri, 21 Nov 1997 09:55:06 -0600 (CST)", "1997-11-21T09:55:06-06:00"),
        ("21 Nov 97 09:55:06 GMT", "1997-11-21T09:55:06Z"),
        ("Thu, 13 Feb 1969 23:32 -0330", "1969-02-13T23:32:00-03:30"),
        ("Mon, 2 Jan 2024 03:04:05 +0000", "2024-01-02T03:04:05Z"),
        ("Mon, 2 Jan 2024 03:04:05 -0000", "2024-01-02T03:04:05Z"),
        (" Sat, 20 Sep 2008 20:04:30 +0300 (\u00f9\u00f2)", "2008-09-20T20:04:30+03:00"),
        ("Mon, 32 Jan 2000 00:00:00 +0000", None),
        ("Mon, 1 Jan 2000 25:00:00 +0000", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_dates(value, expected):
    assert as_date(value) == expected


def test_urls():
    value = " <mailto:list@x.test?subject=help> (List Instructions),\r\n <https://x.test/ help>"
    assert as_urls(value) == ["mailto:list@x.test?subject=help", "https://x.test/help"]
    assert as_urls("NO (posting not allowed)") is None


def test_raw_form_keeps_folding_drops_nul_replaces_bad_utf8():
    headers, body_start = split_header_block(b"Subject: a\r\n b\x00c\xff\r\nX: y\r\n\r\nbody")
    assert headers == [("Subject", b" a\r\n b\x00c\xff"), ("X", b" y")]
    assert raw_form(headers[0][1]) == " a\r\n bc\ufffd"
    assert body_start == len(b"Subject: a\r\n b\x00c\xff\r\nX: y\r\n\r\n")


def test_form_allowed_table():
    assert form_allowed("Subject", "Text")
    assert not form_allowed("Subject", "Addresses")
    assert not form_allowed("From", "Text")
    assert form_allowed("from", "GroupedAddresses")
    assert not form_allowed("From", "Date")
    assert not form_allowed("Date", "Text")
    assert form_allowed("Date", "Date") and form_allowed("Resent-Date", "Date")
    assert not form_allowed("Message-ID", "Text")
    assert form_allowed("References", "MessageIds")
    assert form_allowed("List-Unsubscribe", "URLs") and not form_allowed("List-Post", "Text")
    assert form_allowed("List-Id", "Text")
    assert not form_allowed("Received", "Date") and form_allowed("Received", "Raw")
    assert not form_allowed("Return-Path", "Addresses")
    for form in ("Raw", "Text", "Addresses", "GroupedAddresses", "MessageIds", "Date", "URLs"):
        assert form_allowed("X-Custom", form)
        assert form_allowed("Content-Type", form)
    assert not form_allowed("X-Custom", "Bogus")


def test_parse_header_property():
    assert parse_header_property("header:From") == ("From", "Raw", False)
    assert parse_header_property("header:From:asAddresses") == ("From", "Addresses", False)
    assert parse_header_property("header:Resent-To:asAddresses:all") == (
        "Resent-To",
        "Addresses",
        True,
    )
    assert parse_header_property("header:X:all") == ("X", "Raw", True)
    assert parse_header_property("header:List-Post:asURLs") == ("List-Post", "URLs", False)
    assert parse_header_property("header:From:all:asAddresses") is None
    assert parse_header_property("header:From:asBogus") is None
    assert parse_header_property("header:") is None


def test_header_values_last_and_all():
    headers = [("To", b" a@x.test"), ("Subject", b" one"), ("to", b" B <b@x.test>")]
    assert header_values(headers, "TO", "Addresses") == [{"name": "B", "email": "b@x.test"}]
    assert header_values(headers, "to", "Raw", all_=True) == [" a@x.test", " B <b@x.test>"]
    assert header_values(headers, "cc") is None
    assert header_values(headers, "cc", "Addresses", all_=True) == []
    as_dicts = [{"name": "Subject", "value": " =?utf-8?q?hi?="}]
    assert header_values(as_dicts, "subject", "Text") == "hi"


def test_parse_form_never_raises_on_garbage():
    junk = '\x00<<<>>>=?=?"(((\\'
    for form in ("Raw", "Text", "Addresses", "GroupedAddresses", "MessageIds", "Date", "URLs"):
        parse_form(junk, form)
        parse_form(junk.encode() + b"\xff\xfe", form)
    with pytest.raises(ValueError):
        parse_form("x", "Nope")
