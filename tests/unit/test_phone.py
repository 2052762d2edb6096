import pytest

from ventros.contacts.domain import Email, Phone
from ventros.kernel.errors import RuleViolation


@pytest.mark.parametrize(
    "raw",
    [
        "+55 11 98765-4321",
        "+55 11 8765-4321",
        "+5511987654321",
        "5511987654321",
        "551187654321@c.us",
        "5511987654321@c.us",
        "(11) 98765-4321",
        "11 8765-4321",
    ],
)
def test_brazilian_mobiles_with_and_without_the_ninth_digit_are_one_number(raw: str) -> None:
    assert Phone.parse(raw).e164 == "+5511987654321"


def test_a_brazilian_landline_does_not_get_a_ninth_digit() -> None:
    assert Phone.parse("+55 11 3456-7890").e164 == "+551134567890"


def test_numbers_of_other_countries_are_kept_as_they_are() -> None:
    assert Phone.parse("+1 650-253-0000").e164 == "+16502530000"
    assert Phone.parse("+44 20 7946 0958").e164 == "+442079460958"


def test_the_default_region_applies_to_national_numbers() -> None:
    assert Phone.parse("650-253-0000", default_region="US").e164 == "+16502530000"


@pytest.mark.parametrize("raw", ["", "abc", "+55 11 123", "12345", "+999 1234567", "9" * 40])
def test_an_invalid_phone_is_a_rule_violation(raw: str) -> None:
    with pytest.raises(RuleViolation) as error:
        Phone.parse(raw)
    assert error.value.field == "phone"


def test_a_whatsapp_chat_id_is_the_digits_at_c_us() -> None:
    assert Phone.parse("+55 11 8765-4321").whatsapp_chat_id() == "5511987654321@c.us"


def test_emails_compare_case_insensitively() -> None:
    assert Email.parse("  Ana.Souza@Example.COM ") == Email.parse("ana.souza@example.com")


@pytest.mark.parametrize("raw", ["", "ana", "ana@", "@example.com", "ana@@example.com"])
def test_an_invalid_email_is_a_rule_violation(raw: str) -> None:
    with pytest.raises(RuleViolation):
        Email.parse(raw)
