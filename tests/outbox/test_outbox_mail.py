"""E-mail parsing for prefill: real-world-shaped .eml files in tests/data/eml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tray_client.mail import (
    MAX_BODY_CHARS,
    MailMessage,
    html_to_text,
    parse_file,
    parse_message,
    prefill,
    split_name,
)

EML = Path(__file__).resolve().parent.parent / "data" / "eml"


def test_plain_message():
    msg = parse_file(EML / "plain.eml")
    assert msg.sender_name == "Ann Smith"
    assert msg.sender_address == "ann.smith@example.org"
    assert msg.subject == "Re: Quote for 20 licences"
    assert msg.body.startswith("Hello,\n\nwe would like a quote for 20 licences")
    assert msg.body.endswith("Ann Smith")


def test_html_only_message_is_converted_to_text():
    msg = parse_file(EML / "html_only.eml")
    assert msg.sender_name == "Bob Jones"
    assert "the printer portal shows Error 500 since this morning & nobody can print." in msg.body
    assert "- Building A\n- Building B" in msg.body
    # Styles, titles and scripts are not visible text.
    for hidden in ("color: red", "ignored", "alert"):
        assert hidden not in msg.body
    assert "<" not in msg.body


def test_multipart_with_attachment_prefers_plain_and_skips_attachment():
    msg = parse_file(EML / "multipart_attachment.eml")
    assert msg.sender_address == "carla.rossi@azienda.example"
    assert msg.body == ("We need single sign-on and 50 seats.\n"
                        "The attached PDF lists the requirements.")
    assert "PDF-1.4" not in msg.body and "<b>" not in msg.body


def test_rfc2047_iso_8859_1_headers_and_body():
    msg = parse_file(EML / "rfc2047_latin1.eml")
    assert msg.sender_name == "Jürgen Müller"
    assert msg.subject == "Anfrage für Büromöbel"
    assert "wir möchten 12 Schreibtische für unser Büro bestellen." in msg.body


def test_rfc2047_utf8_headers_and_base64_body():
    msg = parse_file(EML / "rfc2047_utf8.eml")
    assert msg.sender_name == "Zoé Dupré"
    assert msg.subject == "Réclamation: 配送の遅れ"
    assert "la livraison n° 4711" in msg.body


def test_raw_8bit_latin1_headers_are_decoded():
    msg = parse_file(EML / "raw_8bit_headers.eml")
    assert msg.sender_name == "Françoise Léger"
    assert msg.subject == "Devis pour l'été"
    assert "\ufffd" not in msg.sender_name + msg.subject
    assert msg.body == "Merci de nous envoyer un devis avant l'été."


def test_no_from_prefills_what_it_can():
    msg = parse_file(EML / "no_from.eml")
    assert (msg.sender_name, msg.sender_address) == ("", "")
    assert msg.subject == "Website contact form: call back request"
    lead = prefill("lead", msg)
    assert lead["name"] == "Website contact form: call back request"
    assert "emails" not in lead and "firstName" not in lead and "lastName" not in lead
    assert "Please call me back about pricing." in lead["notes"]


def test_broken_mime_still_gives_sender_subject_and_body():
    msg = parse_file(EML / "broken_mime.eml")
    assert msg.sender_address == "eve@broken.example"
    assert msg.subject == "Broken message"
    assert msg.body == "This is the body of a broken message."


@pytest.mark.parametrize("data", [b"", b"\x00\xff\xfe garbage", "", "   ", b"From:\n\n",
                                  b"Content-Type: multipart/mixed\n\n--x\n",
                                  (b"From: =?utf-8?B?not-base64?= <x@y.org>\n"
                                   b"Subject: =?bogus?Q?a?=\n\nb")])
def test_garbage_never_raises(data):
    msg = parse_message(data)
    assert isinstance(msg, MailMessage)
    for kind in ("lead", "opportunity", "case"):
        assert isinstance(prefill(kind, msg), dict)


def test_pasted_text_with_headers_is_a_message():
    msg = parse_message("From: Ann Smith <ann@example.org>\nSubject: Demo request\n\nPlease call.")
    assert (msg.sender_name, msg.sender_address, msg.subject, msg.body) == (
        "Ann Smith", "ann@example.org", "Demo request", "Please call.")


def test_pasted_text_without_headers_is_a_body():
    msg = parse_message("Hi,\r\nplease send the offer.\r\n\r\n\r\n\r\nThanks")
    assert msg.subject == "" and msg.sender_address == ""
    assert msg.body == "Hi,\nplease send the offer.\n\nThanks"


def test_long_bodies_are_cut():
    msg = parse_message("x" * (MAX_BODY_CHARS + 500))
    assert len(msg.body) == MAX_BODY_CHARS


def test_prefill_lead_from_plain():
    values = prefill("lead", parse_file(EML / "plain.eml"))
    assert values["name"] == "Quote for 20 licences"  # reply prefix dropped
    assert (values["firstName"], values["lastName"]) == ("Ann", "Smith")
    assert values["emails"] == ["ann.smith@example.org"]
    assert values["notes"].startswith("Hello,")


def test_prefill_opportunity_and_case():
    msg = parse_file(EML / "multipart_attachment.eml")
    opportunity = prefill("opportunity", msg)
    assert opportunity["name"] == "Requirements for the new CRM rollout"
    assert opportunity["customerNeed"].startswith("We need single sign-on")
    assert "Carla Rossi <carla.rossi@azienda.example>" in opportunity["notes"]
    case = prefill("case", parse_file(EML / "html_only.eml"))
    assert case["subject"] == "Printer portal down"
    assert "Error 500" in case["description"]
    assert prefill("contact", msg) == {}


def test_prefill_case_without_subject_names_the_sender():
    msg = MailMessage(sender_name="Ann", sender_address="a@x.org", body="Broken")
    assert prefill("case", msg) == {"subject": "E-mail from Ann <a@x.org>",
                                    "description": "From Ann <a@x.org>.\n\nBroken",
                                    "source": "email"}


def test_prefill_case_keeps_the_sender():
    case = prefill("case", parse_file(EML / "html_only.eml"))
    assert case["description"].startswith("From ")
    assert "Error 500" in case["description"]


@pytest.mark.parametrize("name, expected", [
    ("Ann Smith", ("Ann", "Smith")), ("Smith, Ann", ("Ann", "Smith")),
    ("Mary Ann van Dyke", ("Mary Ann", "van Dyke")),
    ("Anna Maria Rossi", ("Anna Maria", "Rossi")), ("Cher", ("", "Cher")),
    ("", ("", "")), ("a@b.org", ("", "")),
])
def test_split_name(name, expected):
    assert split_name(name) == expected


def test_html_to_text_entities_and_tables():
    text = html_to_text("<table><tr><td>A&amp;B</td><td>2</td></tr></table><p>caf&eacute;</p>")
    assert "A&B 2" in text and "café" in text


# -- caps: attachments never read, part count and sizes bounded (issue 11) ------------------

def _mail_with(parts: list[str], boundary: str = "b0und") -> str:
    head = ("From: Ann Smith <ann@example.org>\r\nSubject: Offer\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\npreamble\r\n')
    return head + "".join(f"--{boundary}\r\n{p}" for p in parts) + f"--{boundary}--\r\n"


_TEXT_PART = "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease send the offer.\r\n"


def _peak(read) -> tuple[object, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        result = read()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_attachment_body_is_never_read_into_memory(tmp_path):
    line = "QUJD" * 19 + "\r\n"          # base64 lines of 78 bytes
    attachment = ("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
                  'Content-Disposition: attachment; filename="big.pdf"\r\n\r\n'
                  + line * 300_000)          # ~23 MB
    path = tmp_path / "big.eml"
    path.write_text(_mail_with([_TEXT_PART, attachment, _TEXT_PART.replace("Please", "P.S.")]))
    msg, peak = _peak(lambda: parse_file(path))
    assert msg.sender_address == "ann@example.org"
    assert msg.body == "Please send the offer."
    assert peak < 3_000_000, f"{peak:,} bytes for a {path.stat().st_size:,}-byte e-mail"


def test_a_message_of_many_parts_is_read_up_to_the_cap(tmp_path):
    from tray_client.mail import MAX_PARTS

    filler = "Content-Type: image/png\r\n\r\nxx\r\n"
    path = tmp_path / "parts.eml"
    path.write_text(_mail_with([filler] * 200_000))
    msg, peak = _peak(lambda: parse_file(path))
    assert msg.subject == "Offer" and msg.body == ""
    assert peak < 3_000_000, f"{peak:,} bytes for {path.stat().st_size:,} bytes of parts"
    # The text is found while it is among the first MAX_PARTS parts, not after.
    early = parse_message(_mail_with([filler] * (MAX_PARTS - 1) + [_TEXT_PART]).encode())
    late = parse_message(_mail_with([filler] * (MAX_PARTS + 1) + [_TEXT_PART]).encode())
    assert early.body == "Please send the offer." and late.body == ""


def test_nested_multiparts_and_a_huge_line_are_skimmed(tmp_path):
    inner = ('Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
             "--inner\r\n" + _TEXT_PART + "--inner\r\nContent-Type: text/html\r\n\r\n"
             "<p>Please</p>\r\n--inner--\r\n")
    huge = "Content-Type: application/octet-stream\r\n\r\n" + "A" * 5_000_000 + "\r\n"
    path = tmp_path / "nested.eml"
    path.write_text(_mail_with([huge, inner]))
    msg, peak = _peak(lambda: parse_file(path))
    assert msg.body == "Please send the offer."
    assert peak < 3_000_000
