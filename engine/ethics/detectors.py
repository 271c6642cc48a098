"""Personal-data detectors: a candidate regex plus a validation that removes look-alikes.

Each detector takes one segment of text and returns the [start, end) spans of
validated matches. Validation is what separates a card number from any run of
digits: Luhn for cards, ISO 13616 mod-97 for IBANs, `ipaddress` for IPs, the
SSA's never-issued ranges for US SSNs, the mod-23 check letter for Spanish DNI
and NIE numbers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

Span = tuple[int, int]
Detector = Callable[[str], list[Span]]

_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
    r"|(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4})(?![\w])"
)
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_SSN = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])")
_DNI = re.compile(r"(?<!\w)([XYZ]?)(\d{7,8})-?([A-Z])(?!\w)", re.IGNORECASE)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def detect_email(text: str) -> list[Span]:
    """Email addresses (local part, @, a domain with a 2+ letter top level)."""
    if "@" not in text:
        return []
    return [m.span() for m in _EMAIL.finditer(text)]


def detect_phone(text: str) -> list[Span]:
    """Phone numbers: international (+44 20 7946 0958) or North American ((555) 123-4567).

    Valid when the number has 10 to 15 digits (E.164 allows at most 15) and is
    not a single repeated digit; Luhn-valid card numbers are left to the card
    detector.
    """
    spans = []
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 10 <= len(digits) <= 15 and len(set(digits)) > 1 and not is_card_number(digits):
            spans.append(match.span())
    return spans


def detect_payment_card(text: str) -> list[Span]:
    """Payment card numbers: 13-19 digits, optional space/hyphen groups, Luhn-valid."""
    return [m.span() for m in _CARD.finditer(text) if is_card_number(re.sub(r"\D", "", m.group()))]


def is_card_number(digits: str) -> bool:
    """True when `digits` (13-19 digits, not all zero) passes the Luhn checksum."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit() or set(digits) == {"0"}:
        return False
    return luhn_checksum(digits) == 0


def luhn_checksum(digits: str) -> int:
    """The Luhn (mod 10) checksum of a digit string; 0 means valid.

    From the right, every second digit is doubled (minus 9 when above 9) and
    all digits are summed; the result is the sum modulo 10.
    """
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10


def detect_iban(text: str) -> list[Span]:
    """IBANs (ISO 13616), compact or in groups of four, that pass the mod-97 check.

    A candidate that runs into following capitalised words is shortened group
    by group until a valid prefix of at least 15 characters is found.
    """
    spans = []
    for match in _IBAN.finditer(text):
        candidate = match.group()
        while candidate:
            if is_iban(candidate):
                spans.append((match.start(), match.start() + len(candidate)))
                break
            cut = candidate.rfind(" ")
            candidate = candidate[:cut] if cut > 0 else ""
    return spans


def is_iban(candidate: str) -> bool:
    """True when `candidate` (spaces ignored) is 15-34 characters and mod-97 valid.

    The check: move the first four characters to the end, replace letters by
    numbers (A=10 .. Z=35) and the resulting integer modulo 97 must equal 1.
    """
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def detect_ip_address(text: str) -> list[Span]:
    """IPv4 and IPv6 addresses that the standard `ipaddress` module accepts."""
    spans = []
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            if _is_ip(match.group()):
                spans.append(match.span())
    return spans


def _is_ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def detect_us_ssn(text: str) -> list[Span]:
    """US Social Security numbers written AAA-GG-SSSS in an issuable range.

    The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
    """
    spans = []
    for match in _SSN.finditer(text):
        area, group, serial = match.groups()
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            continue
        spans.append(match.span())
    return spans


def detect_es_dni(text: str) -> list[Span]:
    """Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter) numbers.

    Valid when the letter equals "TRWAGMYFPDXBNJZSQVHLCKE"[number mod 23],
    where an NIE's leading X, Y, Z stands for 0, 1, 2 (Real Decreto 1553/2005).
    """
    spans = []
    for match in _DNI.finditer(text):
        prefix, digits, letter = match.groups()
        if prefix:
            if len(digits) != 7:
                continue
            digits = str("XYZ".index(prefix.upper())) + digits
        elif len(digits) != 8:
            continue
        if _DNI_LETTERS[int(digits) % 23] == letter.upper():
            spans.append(match.span())
    return spans


DETECTORS: dict[str, Detector] = {
    "email": detect_email,
    "phone": detect_phone,
    "payment_card": detect_payment_card,
    "iban": detect_iban,
    "ip_address": detect_ip_address,
    "us_ssn": detect_us_ssn,
    "es_dni": detect_es_dni,
}
