"""Every corpus message parses into a sane model; specific values checked against the raw."""

from __future__ import annotations

import json

import pytest

from jmap.message import expand_parts, parse_message, parts_by_id
from tests.corpus import ABSENT, corpus_files, in_ci, load

FILES = corpus_files()
if not FILES and not in_ci():
    pytest.skip(ABSENT, allow_module_level=True)


def test_corpus_present():
    assert FILES, ABSENT  # reached without the corpus only under CI, where it must be there


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_message_parses_sanely(path):
    raw = path.read_bytes()
    model = parse_message(raw)
    json.dumps(model)  # JSON-serialisable
    assert model["size"] == len(raw)
    assert isinstance(model["preview"], str) and len(model["preview"]) <= 256
    assert isinstance(model["hasAttachment"], bool)
    assert model["headers"] and all(set(h) == {"name", "value"} for h in model["headers"])
    parts = parts_by_id(model)
    assert parts, "at least one leaf part"
    for pid in model["textBody"] + model["htmlBody"] + model["attachments"]:
        assert pid in parts
    stack = [model["bodyStructure"]]
    while stack:
        part = stack.pop()
        assert "/" in part["type"] and part["type"] == part["type"].lower()
        if part["type"].startswith("multipart/"):
            assert part["partId"] is None and isinstance(part["subParts"], list)
            stack.extend(part["subParts"])
        else:
            assert isinstance(part["partId"], str) and "subParts" not in part
            assert part["size"] >= 0
            if part["type"].startswith("text/"):
                assert part["charset"]
            else:
                assert part["charset"] is None
    for part in expand_parts(model, model["textBody"]):
        assert part["type"].startswith(("text/plain", "text/html", "image/", "audio/", "video/"))
    if model["sentAt"] is not None:
        assert len(model["sentAt"]) in (20, 25) and model["sentAt"][10] == "T"


def _model(name):
    return parse_message(load(name))


def _part(model, pid):
    return parts_by_id(model)[pid]


def test_encoded_word_subject_utf8_split_words():
    m = _model("mikelmail-japanese-attachment-long-name.eml")
    assert m["subject"] == "まみむめも" * 10
    assert m["from"] == [{"name": "Mikel Lindsaar", "email": "mikel@test.lindsaar.net"}]
    assert m["messageId"] == ["60A112A8-F26C-4E23-95B8-4EB9F139D6A0@test.lindsaar.net"]
    assert m["sentAt"] == "2009-10-30T19:11:02+11:00"


def test_long_japanese_rfc2231_attachment_name():
    m = _model("mikelmail-japanese-attachment-long-name.eml")
    part = _part(m, "1")
    assert part["name"] == "かきくけこ" * 5 + ".txt"
    assert part["disposition"] == "attachment"
    assert m["attachments"] == ["1"] and m["textBody"] == []
    assert m["hasAttachment"] is True


def test_iso_2022_jp_body_and_encoded_display_name():
    m = _model("mikelmail-japanese-iso-2022.eml")
    assert m["subject"] == "まみむめも"
    assert m["to"] == [{"name": "みける", "email": "raasdnil@gmail.com"}]
    assert _part(m, "1")["charset"] == "iso-2022-jp"
    assert m["preview"] == "すみません。"


def test_shift_jis_body():
    m = _model("mikelmail-japanese-shift-jis.eml")
    assert m["subject"] == "test"
    assert m["from"] == [{"name": None, "email": "xxxxxxx@docomo.ne.jp"}]
    assert m["messageId"] == ["xxxxx@docomo.ne.jp"]
    assert m["sentAt"] == "2014-05-28T17:18:19+09:00"
    assert _part(m, "1")["charset"] == "Shift_JIS"
    assert m["preview"].startswith("あいうえお")


def test_undeclared_iso_2022_jp_body_is_sniffed():
    m = _model("cyrus-iso-2022-jp.eml")
    assert m["preview"] == "シニアソフトウェアエンジニア"
    assert m["to"] == [{"name": "'Captain Foo'", "email": "foo@example.com"}]
    assert m["sentAt"] == "2019-05-09T08:35:26Z"


def test_norwegian_split_encoded_words_and_qp_body():
    m = _model("zetamail-gmail-mail-with-norwegian-characters.eml")
    assert m["subject"] == "Gmail: Mail with special characterset for norwegian characters æøå"
    assert m["from"] == [{"name": "Frederik Holljen", "email": "sender@gmail.com"}]
    assert m["messageId"] == ["30b849c70603160143j45126b8av@mail.gmail.com"]
    assert m["textBody"] == ["1"] and m["htmlBody"] == ["2"]
    assert _part(m, "1")["charset"] == "ISO-8859-1"
    assert _part(m, "2")["type"] == "text/html"
    assert m["preview"] == "This is the body: æøå"


def test_iso_8859_1_subject_and_body():
    m = _model("zetamail-kmail-mail-with-iso-8859-1-encoding.eml")
    assert m["subject"] == "Mail with special characterset for norwegian characters æøå"
    assert m["preview"] == "This is the body: æøå"
    assert m["sentAt"] == "2006-02-06T15:37:45+01:00"


def test_rfc2231_latin1_filename_and_cid():
    m = _model("zbateson-m3004.eml")
    assert m["subject"] == "Die Hasen und die Frösche"
    assert m["to"] == [
        {"name": "Joe Blow", "email": "blow@example.com"},
        {"name": "Heinz Müller", "email": "mueller@example.com"},
    ]
    part = _part(m, "2")
    assert part["name"] == "HasenundFrösche.txt"
    assert part["cid"] == "Pine.LNX.4.21.0005191026120.8452@penguin.example.com"
    assert part["type"] == "text/plain" and part["charset"] == "iso-8859-1"
    assert m["sentAt"] == "2000-05-19T10:26:12-04:00"


def test_utf8_filename_rfc2231_arabic():
    m = _model("james-messagewithnonasciifilenameattachment.eml")
    part = _part(m, "2")
    assert part["name"] == "ديناصور.odt"
    assert part["type"] == "application/vnd.oasis.opendocument.text"
    assert part["charset"] is None
    assert m["attachments"] == ["2"] and m["hasAttachment"] is True


def test_rfc2231_filename_wins_over_content_type_name():
    m = _model("zetamail-test-utf8-in-filename.eml")
    assert _part(m, "2")["name"] == "CV Robert Doménie.doc"
    assert _part(m, "2")["charset"] == "US-ASCII"


def test_raw_8bit_utf8_filename():
    m = _model("mikelmail-attachment-nonascii-filename.eml")
    part = _part(m, "2")
    assert part["name"] == "ciële.txt"
    assert part["charset"] == "us-ascii"  # no charset parameter: implicit
    assert m["preview"] == "This is the first part."


def test_inline_image_with_cid_and_html():
    m = _model("zetamail-mail.app-html-mail-with-image.eml")
    img = _part(m, "3")
    assert img["type"] == "image/jpeg"
    assert img["cid"] == "689D8AD3-D129-443F-94F7-90037B82B429@ez.no"
    assert img["name"] == "tur.jpg" and img["disposition"] == "inline"
    assert m["textBody"] == ["1"] and m["htmlBody"] == ["2"] and m["attachments"] == ["3"]
    assert m["hasAttachment"] is False


def test_koi8r_subject_three_words():
    m = _model("zetamail-test-mbox-russian.eml")
    assert m["subject"] == "Re: Мне надо уйти на час с 12.00 по организационным вопросам..."  # noqa: RUF001
    assert m["inReplyTo"] == ["4445F6E9.6010906@ez.od.ua"]
    assert _part(m, "1")["charset"] == "koi8-r"


def test_gb2312_subject_and_name():
    m = _model("spamscope-mail-test-12.eml")
    assert m["subject"] == "代开各地增值税发票"
    assert m["from"] == [{"name": "张先生", "email": "baoguan@hotmail.com"}]
    assert m["to"] == [{"name": None, "email": "danglüe@email.com"}]
    assert m["preview"].startswith("你好！我公司可代开各类增值税发票")  # noqa: RUF001


def test_raw_utf8_headers_rfc6532():
    m = _model("mikelmail-utf8-headers.eml")
    assert m["subject"] == "Säying Hello"
    assert m["from"] == [{"name": "Jöhn Doe", "email": "jdöe@mächine.example"}]
    assert m["to"] == [{"name": "Märy Smith", "email": "märy@exämple.net"}]


def test_raw_8bit_utf8_subject_without_encoded_words():
    m = _model("zetamail-test-mime-subject-broken.eml")
    assert m["subject"] == "Un Fax a été émis"
    assert m["sentAt"] == "2008-08-22T10:42:55Z"


def test_euc_kr_subject_and_date_with_8bit_comment():
    m = _model("mikelmail-raw-email-string-in-date-field.eml")
    assert m["subject"] == "NOTE: 한국말로 하는 것"
    assert m["sentAt"] == "2008-09-20T20:04:30+03:00"


def test_iso_2022_jp_subject_with_folding_tab():
    m = _model("mikelmail-example14.eml")
    assert m["subject"].startswith("Re: TEST")
    assert m["subject"].endswith("テストテスト")
    assert m["inReplyTo"] == ["rid_5582199198@msgid.example.com"]
    assert m["replyTo"] == [{"name": None, "email": "rudeboyjet@gmail.com"}]


def test_folded_8bit_latin1_header():
    m = _model("zbateson-m0001.eml")
    assert m["subject"] == "Die Hasen und   die Frösche (Microsoft Outlook 00)"
    assert m["to"] == [{"name": "Jürgen Schmürgen", "email": "schmuergen@example.com"}]
    assert m["preview"].startswith("Die Hasen und die Frösche Die Hasen klagten")


def test_nodemailer_structure_and_names():
    m = _model("nodemailer-nodemailer.eml")
    assert m["subject"] == "Nodemailer is unicode friendly ✔ (1476358788189)"
    assert m["to"] == [
        {"name": "Andris Reinman", "email": "andris+123@kreata.ee"},
        {"name": None, "email": "andris.reinman@gmail.com"},
    ]
    assert _part(m, "2")["type"] == "text/watch-html"
    assert _part(m, "5")["name"] == "nyan cat ✔.gif"
    assert _part(m, "5")["cid"] == "nyan@example.com"
    assert _part(m, "6")["name"] == "notes.txt"
    assert m["textBody"] == ["1"] and m["htmlBody"] == ["3"]
    assert m["hasAttachment"] is True
    assert m["preview"] == "Hello to myself!"


def test_rfc8621_example_in_corpus():
    m = _model("stalwart-rfc-007.eml")
    # A=1 B=2 C=3 D=4 E=5 F=6 G=7 H=8 J=9 K=10
    assert m["textBody"] == ["1", "2", "3", "4", "10"]
    assert m["htmlBody"] == ["1", "5", "10"]
    assert m["attachments"] == ["3", "6", "7", "8", "9"]
    assert _part(m, "9")["type"] == "message/rfc822"


def test_multipart_digest_default_type():
    m = _model("stalwart-rfc-004.eml")
    assert m["subject"] == "Internet Digest, volume 42"
    assert _part(m, "2")["type"] == "message/rfc822"
    assert _part(m, "3")["type"] == "message/rfc822"


def test_boundary_folded_inside_quotes():
    m = _model("zbateson-m0021.eml")
    assert m["to"] == [{"name": "Heinz Müller", "email": "mueller@example.com"}]
    assert [p["type"] for p in parts_by_id(m).values()] == [
        "text/plain",
        "image/png",
        "image/png",
        "image/png",
    ]


def test_similar_boundaries():
    m = _model("mikelmail-email-with-similar-boundaries.eml")
    assert m["textBody"] == ["1"] and m["htmlBody"] == ["2"] and m["attachments"] == ["3"]


def test_mbox_from_line_skipped():
    m = _model("mikelmail-attachment-pdf-non-ascii-lf.eml")
    assert m["headers"][0]["name"] != "From "
    assert m["subject"] == "Another PDF with 🎉 Unicode chars in it 🍿"
    assert _part(m, "2")["type"] == "application/pdf"


def test_empty_group_and_bad_date():
    m = _model("mikelmail-weird-to-header.eml")
    assert m["to"] == [
        {"name": None, "email": "user-example@aol.com"},
        {"name": None, "email": "e-s-a-s-2200@app.ar.com"},
    ]
    assert m["subject"] == ""


def test_multipart_without_any_part_becomes_text_leaf():
    m = _model("mikelmail-must-supply-encoding.eml")
    assert m["bodyStructure"]["partId"] == "1"
    assert m["messageId"] == ["201011141741.oAEHfiKs020181@app9.msg2u.net"]


def test_uuencoded_attachment_decoded():
    from jmap.message import part_bytes

    raw = load("zbateson-m2010.eml")
    m = parse_message(raw)
    part = _part(m, "2")
    assert part["type"] == "image/png" and part["name"] == "greenball.png"
    content = part_bytes(raw, "2")
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert part["size"] == len(content)


def test_empty_uuencoded_attachment_has_size_zero():
    m = _model("mikelmail-content-transfer-encoding-x-uuencode.eml")
    part = _part(m, "2")
    assert part["name"] == "PGP_Cmts_on_12-14-01_Pkg.doc"
    assert part["size"] == 0


def test_received_at_from_topmost_received():
    m = _model("mikelmail-new-line-in-to-header.eml")
    # topmost Received: "...; Wed, 13 Oct 2010 07:44:39 -0700 (PDT)"
    assert m["receivedAt"] == "2010-10-13T14:44:39Z"
    assert m["sentAt"] == "2010-10-13T07:53:04-07:00"
    assert len(m["to"]) == 6 and m["to"][-1]["email"] == "cc@c-l-example.com"
