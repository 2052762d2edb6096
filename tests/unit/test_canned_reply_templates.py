"""Canned reply templates: variables filled for the contact and the agent, accents kept,
missing values empty (never braces), unknown names refused when the reply is saved."""

from __future__ import annotations

import uuid

import pytest

from ventros.conversations.domain import mention_handles
from ventros.kernel.errors import RuleViolation
from ventros.replies.domain import (
    CannedReply,
    RenderContext,
    clean_shortcut,
    clean_text,
    render,
    variables_in,
)

JOAO = RenderContext(
    contact_name="João  Araújo", agent_name="Inês", custom={"cidade": "São Paulo", "pedido": 42}
)


def test_contact_agent_and_custom_variables_are_filled_with_accents_intact() -> None:
    text = (
        "Olá {{contact.first_name}}! Aqui é {{ agent.name }}, de {{custom.cidade}} "
        "(#{{custom.pedido}})."
    )
    assert render(text, JOAO) == "Olá João! Aqui é Inês, de São Paulo (#42)."
    assert render("{{contact.name}}", JOAO) == "João  Araújo"


def test_a_missing_value_renders_empty_never_as_braces() -> None:
    nobody = RenderContext()
    text = "Oi {{contact.first_name}}, {{custom.cidade}} {{agent.name}}."
    rendered = render(text, nobody)
    assert rendered == "Oi ,  ."
    assert "{{" not in render("{{custom.nao_existe}} {{contact.foo}}", JOAO)


def test_custom_field_names_match_whatever_their_case() -> None:
    assert render("{{custom.Cidade}}", JOAO) == "São Paulo"


def test_an_unknown_variable_is_refused_naming_it() -> None:
    with pytest.raises(RuleViolation) as refused:
        clean_text("Olá {{contact.foo}}")
    assert refused.value.field == "text"
    assert "{{contact.foo}}" in refused.value.detail
    with pytest.raises(RuleViolation):
        clean_text("{{custom.}}")
    with pytest.raises(RuleViolation):
        CannedReply.create(tenant_id=uuid.uuid4(), shortcut="/oi", text="{{agent.email}}")


def test_known_variables_are_listed_in_order() -> None:
    assert variables_in("{{ contact.name }} e {{custom.cor favorita}}") == [
        "contact.name",
        "custom.cor favorita",
    ]


def test_shortcuts_lose_their_slash_and_case_and_keep_accents() -> None:
    assert clean_shortcut("/Orçamento") == "orçamento"
    assert clean_shortcut("frete-grátis") == "frete-grátis"
    for bad in ("/", "com espaço", "a" * 41, "oi!"):
        with pytest.raises(RuleViolation):
            clean_shortcut(bad)


def test_a_new_reply_records_its_creation() -> None:
    reply = CannedReply.create(tenant_id=uuid.uuid4(), shortcut="/Oi", text="Olá!")
    [event] = reply.pull_events()
    assert event.name == "canned_reply.created"
    assert event.payload["shortcut"] == "oi"


def test_mentions_are_email_handles_without_a_sentence_dot() -> None:
    text = "@Ana.Souza pode ver? cc @bruno. (mail ana@loja.com não conta) @ana.souza"
    assert mention_handles(text) == ["ana.souza", "bruno"]
