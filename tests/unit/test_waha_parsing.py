"""WAHA's wire format (the fixtures are real-shaped NOWEB webhooks) parsed into typed values."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ventros.channels import waha

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "waha"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def parse(name: str) -> waha.WahaEvent:
    return waha.parse_event(waha.parse_envelope(load(name)))


def message(name: str) -> waha.WahaMessage:
    parsed = parse(name)
    assert isinstance(parsed, waha.WahaMessage), parsed
    return parsed


def test_every_webhook_fixture_is_an_envelope() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.endswith("response.json"))
    assert len(names) == 17
    for name in names:
        envelope = waha.parse_envelope(load(name))
        assert envelope.id
        assert envelope.id.startswith("evt_")
        assert envelope.session == "default"
        assert envelope.engine == "NOWEB"
        assert envelope.me_id == "5511940028922@c.us"
        assert envelope.timestamp is not None
        assert not isinstance(waha.parse_event(envelope), waha.Ignored), name


def test_an_incoming_text() -> None:
    parsed = message("message.text.json")
    assert parsed.type == "text"
    assert parsed.text == (
        "Olá! Vocês têm armação da Ray-Ban em estoque? Queria passar aí amanhã de manhã."
    )
    assert parsed.caption is None
    assert parsed.media is None
    assert parsed.chat_id == "5511976543210@c.us"
    assert not parsed.from_me
    assert parsed.push_name == "Mariana Costa"
    assert parsed.id.serialized == "false_5511976543210@c.us_AC3F91D27B4E6058C1A9F3E2D7B6C410"
    assert parsed.id.wa_id == "AC3F91D27B4E6058C1A9F3E2D7B6C410"
    assert parsed.timestamp == datetime.fromtimestamp(1784639700, UTC)
    assert parsed.source == "app"
    assert parsed.referral is None


def test_an_image_with_its_caption_and_media() -> None:
    parsed = message("message.image.json")
    assert parsed.type == "image"
    assert parsed.text is None
    assert parsed.caption == "Segue a foto da receita do oftalmologista 👓"
    assert parsed.media == waha.Media(
        url="http://localhost:3000/api/files/default/3A7F2C9B1E4D6A8C0B35.jpeg",
        mimetype="image/jpeg",
        filename=None,
        size_bytes=184533,
        width=1200,
        height=1600,
    )


def test_a_voice_note_is_audio_from_a_twelve_digit_brazilian_id() -> None:
    parsed = message("message.audio.json")
    assert parsed.type == "audio"
    assert parsed.media is not None
    assert parsed.media.voice is True
    assert parsed.media.mimetype == "audio/ogg; codecs=opus"
    assert parsed.media.seconds == 9
    assert parsed.caption is None
    assert parsed.chat_id == "551187651234@c.us"
    assert parsed.push_name == "Sônia Almeida"


def test_a_video_a_document_and_a_sticker() -> None:
    video = message("message.video.json")
    assert video.type == "video"
    assert video.caption == "Olha como ficou o óculos novo! Adorei 😍"
    assert video.media is not None
    assert video.media.seconds == 14

    document = message("message.document.json")
    assert document.type == "document"
    assert document.media is not None
    assert document.media.filename == "orcamento-lentes-multifocais.pdf"
    assert document.media.mimetype == "application/pdf"
    assert document.caption is None

    sticker = message("message.sticker.json")
    assert sticker.type == "sticker"
    assert sticker.media is not None
    assert sticker.media.mimetype == "image/webp"


def test_a_location_has_numeric_coordinates() -> None:
    parsed = message("message.location.json")
    assert parsed.type == "location"
    assert parsed.location == waha.Location(
        latitude=-23.561684,
        longitude=-46.655981,
        title="Conjunto Nacional",
        address="Av. Paulista, 2073 - Bela Vista, São Paulo - SP, 01311-300",
    )
    assert parsed.media is None
    assert parsed.text is None


def test_a_shared_contact_carries_its_vcard() -> None:
    parsed = message("message.vcard.json")
    assert parsed.type == "contact"
    assert len(parsed.vcards) == 1
    assert "FN:Dra. Fernanda Alves" in parsed.vcards[0]


def test_our_own_message_from_message_any() -> None:
    parsed = message("message.from_me.json")
    assert parsed.from_me
    assert parsed.source == "api"
    assert parsed.ack == "sent"
    assert parsed.chat_id == "5511976543210@c.us"  # NOWEB: `from` is the chat
    assert parsed.push_name is None  # that push name is the business's own
    assert parsed.id.serialized == "true_5511976543210@c.us_3EB0A1C47D92E5F38B6A04"


def test_a_group_message_names_its_sender() -> None:
    parsed = message("message.group.json")
    assert parsed.is_group
    assert parsed.chat_id == "120363418234567890@g.us"
    assert parsed.participant == "203845716290431@lid"
    assert parsed.id.wa_id == "3AB5D7F9C1E3A2B4D6F8"
    assert parsed.text is not None
    assert parsed.text.startswith("Pessoal")


def test_a_click_to_whatsapp_referral_is_kept_with_cloud_api_names() -> None:
    parsed = message("message.ctwa_ad_referral.json")
    assert parsed.type == "text"
    referral = parsed.referral
    assert referral is not None
    assert referral["source_id"] == "120226305854810726"
    assert referral["source_url"] == "https://fb.me/3cr4Wqqkv"
    assert referral["source_type"] == "ad"
    assert referral["ctwa_clid"].startswith("Aff-n8ZTODiE79d22KtAwQKj9e")
    assert referral["media_type"] == "image"
    assert referral["headline"] == "Exame de vista grátis na Ótica Visão Clara"
    assert referral["external_ad_reply"]["sourceId"] == "120226305854810726"


def test_an_ad_lead_with_only_the_opaque_2026_payload_keeps_the_hints() -> None:
    data = load("message.ctwa_ad_referral.json")
    context = data["payload"]["_data"]["message"]["extendedTextMessage"]["contextInfo"]
    context.clear()
    context.update({"ctwaPayload": "AbC=", "entryPointConversionSource": "ctwa_ad"})
    parsed = waha.parse_event(waha.parse_envelope(data))
    assert isinstance(parsed, waha.WahaMessage)
    assert parsed.referral is not None
    assert parsed.referral["ctwa_clid"] is None
    assert parsed.referral["context"] == {
        "entryPointConversionSource": "ctwa_ad",
        "ctwaPayload": "AbC=",
    }


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("message.ack.delivered.json", "delivered"),
        ("message.ack.read.json", "read"),
        ("message.ack.error.json", "failed"),
    ],
)
def test_acks_are_statuses(name: str, status: str) -> None:
    parsed = parse(name)
    assert isinstance(parsed, waha.AckUpdate)
    assert parsed.status == status
    assert parsed.from_me
    assert parsed.message_id.serialized.startswith("true_")


def test_a_reaction_points_at_the_reacted_message() -> None:
    parsed = parse("message.reaction.json")
    assert isinstance(parsed, waha.ReactionUpdate)
    assert parsed.emoji == "❤️"
    assert parsed.reactor == "5511976543210@c.us"
    assert parsed.message_id.serialized == "true_5511976543210@c.us_3EB0A1C47D92E5F38B6A04"


def test_a_revoke_names_the_bare_id_and_the_chat() -> None:
    parsed = parse("message.revoked.json")
    assert isinstance(parsed, waha.RevokeUpdate)
    assert parsed.wa_id == "3A7F2C9B1E4D6A8C0B35"
    assert parsed.chat_id == "5511983217654@c.us"


def test_a_session_status_takes_the_time_it_was_reached() -> None:
    parsed = parse("session.status.json")
    assert isinstance(parsed, waha.SessionStatus)
    assert parsed.status == "WORKING"
    assert parsed.at == datetime.fromtimestamp(1784636100.231, UTC)


def test_unknown_events_and_status_broadcasts_are_ignored() -> None:
    presence = waha.parse_envelope(
        {"event": "presence.update", "session": "default", "payload": {}}
    )
    assert isinstance(waha.parse_event(presence), waha.Ignored)

    data = load("message.text.json")
    data["payload"]["from"] = "status@broadcast"
    assert isinstance(waha.parse_event(waha.parse_envelope(data)), waha.Ignored)


def test_a_message_without_id_is_ignored_not_an_error() -> None:
    data = load("message.text.json")
    del data["payload"]["id"]
    assert isinstance(waha.parse_event(waha.parse_envelope(data)), waha.Ignored)


def test_protocol_traffic_is_not_a_message() -> None:
    data = load("message.text.json")
    data["payload"]["_data"]["message"] = {"protocolMessage": {"type": "REVOKE"}}
    assert isinstance(waha.parse_event(waha.parse_envelope(data)), waha.Ignored)


def test_webjs_messages_are_classified_by_their_raw_type_and_remote_chat() -> None:
    envelope = waha.parse_envelope(
        {
            "event": "message.any",
            "session": "default",
            "engine": "WEBJS",
            "me": {"id": "5511940028922@c.us"},
            "payload": {
                "id": "true_5511976543210@c.us_ABC",
                "from": "5511940028922@c.us",
                "to": "5511976543210@c.us",
                "fromMe": True,
                "hasMedia": True,
                "media": {"url": "http://waha/f.oga", "mimetype": "audio/ogg"},
                "_data": {
                    "type": "ptt",
                    "id": {"remote": "5511976543210@c.us", "id": "ABC", "fromMe": True},
                },
            },
        }
    )
    parsed = waha.parse_event(envelope)
    assert isinstance(parsed, waha.WahaMessage)
    assert parsed.type == "audio"
    assert parsed.chat_id == "5511976543210@c.us"
    assert parsed.id.wa_id == "ABC"


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"event": "message"},
        {"event": "", "session": "default"},
        {"event": "message", "session": 3},
        {"event": "message", "session": "default", "payload": []},
        {"event": "message", "session": "default", "id": 7},
    ],
)
def test_json_that_is_not_an_envelope_is_refused(body: object) -> None:
    with pytest.raises(waha.InvalidEnvelope):
        waha.parse_envelope(body)


def test_the_dedupe_key_is_the_event_id_or_a_digest_of_the_bytes() -> None:
    with_id = waha.parse_envelope(load("message.text.json"))
    assert waha.dedupe_key(with_id, b"whatever") == "evt_01ky2d1fe4brsshx0dw8bfr6qj"
    without = waha.parse_envelope({"event": "message", "session": "default"})
    assert waha.dedupe_key(without, b"a") == waha.dedupe_key(without, b"a")
    assert waha.dedupe_key(without, b"a") != waha.dedupe_key(without, b"b")


def test_the_signature_matches_wahas_documented_test_vector() -> None:
    body = b'{"event":"message","session":"default","engine":"WEBJS"}'
    expected = (
        "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8"
        "097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"
    )
    assert waha.sign("my-secret-key", body) == expected
    assert waha.signature_matches("my-secret-key", body, expected)
    assert waha.signature_matches("my-secret-key", body, expected.upper())
    assert not waha.signature_matches("my-secret-key", body + b" ", expected)
    assert not waha.signature_matches("other-key", body, expected)
    assert not waha.signature_matches("my-secret-key", body, "é" * 128)
