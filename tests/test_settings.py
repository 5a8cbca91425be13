"""Settings: defaults, JSON round trip, validation, damaged files, atomic owner-only writes."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import fields
from pathlib import Path

import pytest

from tray_client.errors import ConfigurationError
from tray_client.settings import (
    SCHEMA_VERSION,
    MappingOverride,
    Settings,
    default_sync_rules,
    load_settings,
    locale_country,
    save_settings,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.json"


def test_defaults_when_no_file(path: Path) -> None:
    settings = load_settings(path)
    assert settings == Settings()
    assert (settings.url, settings.user, settings.sync_type) == ("", "", "all")
    assert settings.show_alerts is True and settings.sync_birthdays is False
    assert settings.disable_sync is False and settings.ignore_self_signed_cert is False
    assert settings.schema_version == SCHEMA_VERSION
    assert settings.configured is False
    assert not path.exists(), "loading must not create the file"


def test_round_trip_every_field(path: Path) -> None:
    settings = Settings(
        url="https://crm.example.com/admin", user="ann", ignore_self_signed_cert=True,
        pinned_cert_sha256="ab" * 32, disable_sync=True, sync_type="selected",
        show_alerts=False, sync_birthdays=True, start_at_login=True, update_check="never",
        report_retention_days=7,
        mapping={"contacts": {"birthday": MappingOverride(enabled=False, direction="once")},
                 "tasks": {"status": MappingOverride(direction="crm_to_local")}})
    save_settings(settings, path)
    loaded = load_settings(path)
    assert loaded == settings
    assert {f.name for f in fields(Settings)} <= set(json.loads(path.read_text()))
    assert loaded.configured is True


def test_unknown_keys_are_ignored_and_missing_keys_default(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"url": "https://x.example", "future_option": 3}))
    loaded = load_settings(path)
    assert loaded.url == "https://x.example" and loaded.sync_type == "all"


@pytest.mark.parametrize(("change", "title"), [
    ({"url": "crm.example.com"}, "Invalid CRM URL"),
    ({"url": "ftp://crm.example.com"}, "Invalid CRM URL"),
    ({"sync_type": "mine"}, "Invalid sync type"),
    ({"update_check": "hourly"}, "Invalid update check"),
    ({"mapping": {"contacts": {"gender": MappingOverride(direction="sideways")}}},
     "Invalid field mapping"),
])
def test_validation_errors_refuse_to_save(path: Path, change: dict[str, object],
                                          title: str) -> None:
    settings = Settings(**change)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as info:
        save_settings(settings, path)
    assert info.value.title == title and info.value.message
    assert not path.exists()


@pytest.mark.parametrize("content", [
    "{not json",
    "[1, 2, 3]",
    '{"show_alerts": "false"}',
    '{"report_retention_days": true}',
    '{"url": 42}',
    '{"mapping": {"contacts": "birthday"}}',
    '{"sync_type": "mine"}',
    "",
])
def test_damaged_file_is_moved_aside(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ConfigurationError) as info:
        load_settings(path)
    broken = path.with_name("settings.json.broken")
    assert info.value.title == "Settings reset"
    assert str(broken) in info.value.message
    assert broken.read_text() == content
    assert not path.exists()
    assert load_settings(path) == Settings()


def test_save_is_atomic_and_owner_only(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(Settings(url="https://old.example", user="ann"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def failing_dump(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", failing_dump)
    with pytest.raises(OSError):
        save_settings(Settings(url="https://new.example", user="bo"), path)
    monkeypatch.undo()
    # The old file is intact and no temporary file is left behind.
    assert load_settings(path).url == "https://old.example"
    assert sorted(os.listdir(path.parent)) == ["settings.json"]


def test_save_replaces_existing_file_in_one_step(path: Path) -> None:
    save_settings(Settings(url="https://a.example", user="a"), path)
    inode = path.stat().st_ino
    save_settings(Settings(url="https://b.example", user="b"), path)
    assert path.stat().st_ino != inode, "written to a new file and renamed over the old one"
    assert load_settings(path).user == "b"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_api_key_is_not_a_setting(path: Path) -> None:
    names = {f.name for f in fields(Settings)}
    assert not any("key" in name or "password" in name for name in names)


# -- sync rules and the default country (schema 2) --------------------------------------------

def test_a_version_1_file_gets_the_seed_rules(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"url": "https://x.example", "user": "ann",
                                "schema_version": 1}))
    loaded = load_settings(path)
    assert loaded.schema_version == SCHEMA_VERSION == 2
    assert loaded.sync_rules == default_sync_rules()
    rule = loaded.rule("contacts")
    assert (rule.enabled, rule.direction, rule.conflict_resolution) == (
        True, "Both", "OroCRMAlwaysWins")
    assert rule.keys == ["lastName", "firstName", "birthday", "gender"]
    assert (rule.pull_interval, rule.push_interval) == (120, 30)
    assert loaded.rule("tasks").keys == ["subject", "taskPriority"]
    assert loaded.default_country == ""


def test_rules_round_trip_and_partial_files(path: Path) -> None:
    settings = Settings(default_country="DE")
    settings.rule("tasks").direction = "OutlookToOroCRM"
    settings.rule("events").enabled = False
    settings.rule("contacts").pull_interval = 600
    save_settings(settings, path)
    assert load_settings(path) == settings
    # A file naming one rule of one entity keeps the defaults of the rest.
    path.write_text(json.dumps({"schema_version": 2,
                                "sync_rules": {"tasks": {"push_interval": 90}}}))
    loaded = load_settings(path)
    assert loaded.rule("tasks").push_interval == 90
    assert loaded.rule("tasks").direction == "Both"
    assert loaded.rule("events") == default_sync_rules()["events"]


@pytest.mark.parametrize(("rule", "value", "words"), [
    ("direction", "Sideways", "direction must be one of"),
    ("conflict_resolution", "Coin", "conflict_resolution must be one of"),
    ("pull_interval", 1, "pull_interval must be from 5"),
    ("keys", [""], "keys must be CRM field names"),
])
def test_bad_rules_refuse_to_save(path: Path, rule: str, value: object, words: str) -> None:
    settings = Settings()
    setattr(settings.rule("contacts"), rule, value)
    with pytest.raises(ConfigurationError) as info:
        save_settings(settings, path)
    assert info.value.title == "Invalid sync rule" and words in info.value.message


def test_bad_default_country_refuses_to_save(path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        save_settings(Settings(default_country="Germany"), path)
    assert info.value.title == "Invalid default country"


def test_a_rule_of_the_wrong_type_is_a_damaged_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 2,
                                "sync_rules": {"contacts": {"enabled": "false"}}}))
    with pytest.raises(ConfigurationError) as info:
        load_settings(path)
    assert "sync_rules.contacts.enabled must be bool" in info.value.message


@pytest.mark.parametrize(("env", "country"), [
    ({"LC_ALL": "de_DE.UTF-8"}, "DE"), ({"LANG": "en_US.UTF-8"}, "US"),
    ({"LANG": "fr_CA"}, "CA"), ({"LANG": "C.UTF-8"}, ""), ({"LANG": "POSIX"}, ""),
])
def test_locale_country(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                        country: str) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("locale.getlocale", lambda: (None, None))
    assert locale_country() == country
    assert Settings().effective_default_country == country
    assert Settings(default_country="IL").effective_default_country == "IL"
