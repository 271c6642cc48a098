"""Personal-data detectors: validation separates real identifiers from look-alikes."""

from __future__ import annotations

import pytest

from engine.ethics.detectors import (
    detect_email,
    detect_es_dni,
    detect_iban,
    detect_ip_address,
    detect_payment_card,
    detect_phone,
    detect_us_ssn,
    luhn_checksum,
)


def _found(detector: object, text: str) -> list[str]:
    assert callable(detector)
    return [text[start:end] for start, end in detector(text)]


def test_luhn_valid_visa_test_number_is_a_card() -> None:
    assert _found(detect_payment_card, "pay with 4111 1111 1111 1111 now") == [
        "4111 1111 1111 1111"
    ]


def test_luhn_invalid_number_is_not_a_card() -> None:
    assert _found(detect_payment_card, "pay with 4111 1111 1111 1112 now") == []


def test_luhn_checksum_of_known_numbers() -> None:
    assert luhn_checksum("79927398713") == 0
    assert luhn_checksum("79927398710") != 0


def test_valid_iban_is_found_and_stops_before_following_words() -> None:
    text = "Send it to GB82 WEST 1234 5698 7654 32 please"
    assert _found(detect_iban, text) == ["GB82 WEST 1234 5698 7654 32"]


def test_mod97_invalid_iban_is_not_found() -> None:
    assert _found(detect_iban, "Send it to GB82 WEST 1234 5698 7654 33") == []


def test_compact_iban_is_found() -> None:
    assert _found(detect_iban, "IBAN DE89370400440532013000.") == ["DE89370400440532013000"]


def test_email_address_is_found() -> None:
    assert _found(detect_email, "Write to jane.doe+news@example.co.uk today.") == [
        "jane.doe+news@example.co.uk"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssn 536-22-1234", ["536-22-1234"]),
        ("ssn 000-22-1234", []),
        ("ssn 666-22-1234", []),
        ("ssn 912-22-1234", []),
        ("ssn 536-00-1234", []),
        ("ssn 536-22-0000", []),
    ],
)
def test_us_ssn_respects_never_issued_ranges(text: str, expected: list[str]) -> None:
    assert _found(detect_us_ssn, text) == expected


def test_spanish_dni_and_nie_check_letters() -> None:
    assert _found(detect_es_dni, "DNI 12345678Z, wrong 12345678A, NIE X1234567L") == [
        "12345678Z",
        "X1234567L",
    ]


def test_ip_addresses_are_validated_by_ipaddress() -> None:
    text = "from 192.168.1.20 and 2001:db8::1, not 999.1.1.1 nor 12:30:45"
    assert _found(detect_ip_address, text) == ["192.168.1.20", "2001:db8::1"]


def test_phone_numbers_in_international_and_north_american_form() -> None:
    text = "Call +44 20 7946 0958 or (555) 123-4567; the date 2024-01-15 is not one."
    assert _found(detect_phone, text) == ["+44 20 7946 0958", "(555) 123-4567"]
