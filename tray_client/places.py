"""Countries and regions: free text as people type it <-> ISO 3166 codes, as Oro wants them.

Oro keeps a contact address's country as a ``countries`` relationship (ISO 3166-1 alpha-2,
``US``) and its region as a ``regions`` relationship (ISO 3166-2, ``US-CA``), or a free-text
``customRegion`` (ORO-API.md §6). Local items (Outlook's model, vCards) hold whatever was
typed: "Deutschland", "USA", "Bavaria", "CA". The data comes from ``pycountry`` (the ISO
tables and their translations, a maintained package), never a table written here.

- ``country_code(text)``: an alpha-2 or alpha-3 code, a name, official or common name in any
  language pycountry has ("Deutschland", "Allemagne", "United States of America"); None when
  nothing matches exactly (no fuzzy guess: a wrong country is worse than a clear error).
- ``region_code(country, text)``: the ISO 3166-2 code of a subdivision of that country, from
  its code ("CA", "US-CA"), its name in the country's own language or in English ("Bayern",
  "Bavaria"); None when unknown (it then travels as ``customRegion``, or is refused: see
  ``sync.mapping``).
- ``country_name(code)`` / ``region_name(code)``: the English names a pulled address shows.

Look-ups are case-, accent- and whitespace-insensitive. The indexes are built on first use
(a quarter of a second) and kept.
"""

from __future__ import annotations

import gettext
import json
import os
import unicodedata
from functools import cache, lru_cache

import pycountry


def _norm(text: str) -> str:
    """Case-, accent- and whitespace-insensitive form of a name."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace(".", "").split()).casefold()


def _catalogs(domain: str, languages: tuple[str, ...] | None = None) -> list[dict[str, str]]:
    """The message catalogs of a pycountry gettext domain (every language when None)."""
    result = []
    root = pycountry.LOCALES_DIR
    for language in languages if languages is not None else sorted(os.listdir(root)):
        path = os.path.join(root, language, "LC_MESSAGES", f"{domain}.mo")
        if not os.path.exists(path):
            continue
        with open(path, "rb") as fh:
            catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
        result.append({k: v for k, v in catalog.items() if isinstance(k, str) and k})
    return result


@cache
def _english_countries() -> tuple[dict[str, str], dict[str, str]]:
    """Normalised codes and English names -> alpha-2 code; and English name -> code."""
    index: dict[str, str] = {}
    english: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        index[_norm(country.alpha_3)] = index[_norm(code)] = code
        for name in (country.name, getattr(country, "official_name", None),
                     getattr(country, "common_name", None)):
            if name:
                english[name] = code
                index.setdefault(_norm(name), code)
    return index, english


@cache
def _translated_countries() -> dict[str, str]:
    """Normalised names in every other language -> code (those the English index lacks).
    Read only when a name is not English: the catalogs of ~100 languages take ~0.8 s."""
    index, english = _english_countries()
    translated: dict[str, str] = {}
    for catalog in _catalogs("iso3166-1"):
        for source, text in catalog.items():
            known = english.get(source)
            if known is not None and text and (key := _norm(text)) not in index:
                translated.setdefault(key, known)
    return translated


# The look-ups below are cached: static data, and a sync asks for the same few names and codes
# 100,000 times.
@lru_cache(maxsize=4096)
def country_code(text: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code for a country as typed, or None (see the module docstring)."""
    if text is None or not text.strip():
        return None
    key = _norm(text)
    return _english_countries()[0].get(key) or _translated_countries().get(key)


@lru_cache(maxsize=4096)
def country_name(code: str | None) -> str | None:
    """The English (common) name of an alpha-2 code; the code itself when unknown."""
    if not code:
        return None
    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


@cache
def _subdivisions() -> dict[str, str]:
    """ISO 3166-2 code -> name (in the country's language), read straight from pycountry's
    own database file: building pycountry's objects for its ~5,000 subdivisions took 30-90
    ms of every sync process that met an address, the file itself takes ~9 ms. Top-level
    subdivisions come first, so where a name is both a county and a municipality in it
    ("Hiiumaa": EE-39 and EE-205) the county is the one a typed name means (pycountry's
    unordered sets made that choice at random)."""
    path = os.path.join(pycountry.DATABASE_DIR, "iso3166-2.json")
    with open(path, encoding="utf-8") as fh:
        entries = json.load(fh)["3166-2"]
    entries.sort(key=lambda e: "parent" in e)   # stable: the file's order otherwise
    return {str(e["code"]): str(e["name"]) for e in entries}


@cache
def _region_index(country: str) -> dict[str, str]:
    """Normalised names and codes of ``country``'s subdivisions -> ISO 3166-2 code."""
    prefix = country + "-"
    english = _english_subdivisions()
    index: dict[str, str] = {}
    for code, name in _subdivisions().items():
        if not code.startswith(prefix):
            continue
        index.setdefault(_norm(code), code)
        index.setdefault(_norm(code.split("-", 1)[1]), code)
        index.setdefault(_norm(name), code)
        translated = english.get(name)
        if translated:
            index.setdefault(_norm(translated), code)
    return index


@cache
def _english_subdivisions() -> dict[str, str]:
    merged: dict[str, str] = {}
    for catalog in _catalogs("iso3166-2", ("en",)):
        merged.update(catalog)
    return merged


@lru_cache(maxsize=4096)
def region_code(country: str | None, text: str | None) -> str | None:
    """ISO 3166-2 code of a region of ``country`` (alpha-2) as typed, or None."""
    if not country or text is None or not text.strip():
        return None
    return _region_index(country.upper()).get(_norm(text))


@lru_cache(maxsize=4096)
def region_name(code: str | None) -> str | None:
    """The name of an ISO 3166-2 code (in English where pycountry translates it, else in the
    country's language); the code itself when unknown."""
    if not code:
        return None
    name = _subdivisions().get(code.upper())
    if name is None:
        return code
    return _english_subdivisions().get(name) or name


@lru_cache(maxsize=4096)
def is_country_code(value: str | None) -> bool:
    """True when ``value`` is an ISO 3166-1 alpha-2 code (upper case, as canonical forms hold)."""
    return bool(value and len(value) == 2 and value.isupper()
                and pycountry.countries.get(alpha_2=value) is not None)


@lru_cache(maxsize=4096)
def is_region_code(country: str | None, value: str | None) -> bool:
    """True when ``value`` is an ISO 3166-2 code of ``country`` (``US-CA`` for ``US``)."""
    return bool(country and value and value.upper().startswith(country.upper() + "-")
                and value.upper() in _subdivisions())


def country_choices() -> list[tuple[str, str]]:
    """(alpha-2 code, English name) of every country, sorted by name (for pickers)."""
    return sorted(((str(c.alpha_2), country_name(c.alpha_2) or c.alpha_2)
                   for c in pycountry.countries), key=lambda pair: _norm(pair[1]))
