"""Update check: version comparison, the minimum-version gate, offers shown once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client import __version__
from tray_client.crm import CrmClient
from tray_client.errors import ConfigurationError, SyncError
from tray_client.updates import (
    UnsupportedClientError,
    UpdateOffers,
    check_for_update,
    ensure_supported,
    parse_version,
)

URL = "https://downloads.example.org/tray-client/"


def config(latest=None, minimum=None, url=URL):
    return {"addin_latest_version": latest, "addin_min_supported_version": minimum,
            "addin_latest_version_url": url, "contacts_enabled": True}


# -- comparison -------------------------------------------------------------------------------

def test_newer_version_is_offered_with_its_url():
    status = check_for_update("1.2.0", config(latest="1.3.0"))
    assert status.kind == "newer_available"
    assert status.latest == "1.3.0"
    assert status.url == URL
    assert "1.3.0" in status.message and URL in status.message


def test_equal_version_is_current():
    status = check_for_update("1.2.0", config(latest="1.2"))  # PEP 440: 1.2 == 1.2.0
    assert status.kind == "current"
    assert status.latest == "1.2"


def test_older_server_version_is_current():
    assert check_for_update("2.0.0", config(latest="1.9.9")).kind == "current"


def test_versions_compare_numerically_not_as_text():
    assert check_for_update("1.9", config(latest="1.10")).kind == "newer_available"
    assert check_for_update("1.10", config(latest="1.9")).kind == "current"


def test_pre_release_is_older_than_the_release():
    assert check_for_update("2.0rc1", config(latest="2.0")).kind == "newer_available"
    assert check_for_update("2.0", config(latest="2.0rc1")).kind == "current"


def test_nothing_published_is_current():
    status = check_for_update("0.1.0", {})
    assert status.kind == "current"
    assert status.latest is None and status.min_supported is None and status.url is None


def test_numbers_and_v_prefix_are_understood():
    assert check_for_update("2.0", config(latest=2.1)).latest == "2.1"
    assert check_for_update("2.0", config(latest=" v2.2 ")).latest == "2.2"


# -- minimum ----------------------------------------------------------------------------------

def test_below_minimum_is_unsupported_and_names_version_and_url():
    status = check_for_update("1.0.0", config(latest="1.5.0", minimum="1.2.0"))
    assert status.kind == "unsupported"
    assert status.min_supported == "1.2.0"
    assert "1.2.0" in status.message and "1.0.0" in status.message and URL in status.message
    assert "1.5.0" in status.message  # points at the newest, not merely the minimum


def test_exactly_the_minimum_is_supported():
    assert check_for_update("1.2.0", config(latest="1.5.0", minimum="1.2.0")).kind == \
        "newer_available"


def test_ensure_supported_raises_a_sync_error_with_what_is_needed():
    with pytest.raises(UnsupportedClientError) as caught:
        ensure_supported("1.0.0", config(minimum="1.2.0", url=None))
    error = caught.value
    assert isinstance(error, SyncError)
    assert error.title == "Update required"
    assert error.min_supported == "1.2.0" and error.current == "1.0.0" and error.url is None
    assert "1.2.0" in error.message and "administrator" in error.message


def test_ensure_supported_returns_the_status_when_fine():
    status = ensure_supported("1.2.0", config(latest="1.3", minimum="1.0"))
    assert status.kind == "newer_available"


# -- malformed values -------------------------------------------------------------------------

@pytest.mark.parametrize("garbage", ["latest", "1.2.3-beta_x!", "", "   ", True, ["1.0"], {}])
def test_malformed_server_versions_are_ignored(garbage):
    status = check_for_update("1.0.0", config(latest=garbage, minimum=garbage))
    assert status.kind == "current"
    assert status.latest is None and status.min_supported is None


def test_malformed_minimum_does_not_lock_users_out_but_latest_still_counts():
    status = ensure_supported("1.0.0", config(latest="1.1", minimum="one point two"))
    assert status.kind == "newer_available"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "not a url",
                                 "https://", 42])
def test_non_web_urls_are_dropped(url):
    status = check_for_update("1.0", config(latest="2.0", url=url))
    assert status.kind == "newer_available"
    assert status.url is None
    assert "administrator" in status.message


def test_own_malformed_version_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        check_for_update("dev-build", config(latest="1.0"))


def test_parse_version():
    assert str(parse_version("1.0.0")) == "1.0.0"
    assert parse_version(None) is None
    assert parse_version("nope") is None


# -- offered once -----------------------------------------------------------------------------

def test_a_newer_version_is_offered_once(tmp_path):
    offers = UpdateOffers(tmp_path / "state" / "updates.json")
    status = check_for_update("1.0", config(latest="1.1"))
    assert offers.claim(status) is True
    assert offers.claim(status) is False
    # A new instance (next start of the app) remembers it too.
    again = UpdateOffers(tmp_path / "state" / "updates.json")
    assert again.should_offer(status) is False
    assert again.last_offered == "1.1"


def test_a_still_newer_version_is_offered_again_but_an_older_one_not(tmp_path):
    offers = UpdateOffers(tmp_path / "updates.json")
    assert offers.claim(check_for_update("1.0", config(latest="1.1")))
    assert offers.claim(check_for_update("1.0", config(latest="1.2")))
    # The administrator rolled back the published version: nothing new to say.
    assert not offers.claim(check_for_update("1.0", config(latest="1.1.5")))
    assert offers.last_offered == "1.2"


def test_current_and_unsupported_are_not_offers(tmp_path):
    offers = UpdateOffers(tmp_path / "updates.json")
    assert not offers.claim(check_for_update("1.1", config(latest="1.1")))
    assert not offers.claim(check_for_update("1.0", config(latest="2.0", minimum="1.5")))
    assert not (tmp_path / "updates.json").exists()


def test_mark_offered_never_goes_backwards(tmp_path):
    offers = UpdateOffers(tmp_path / "updates.json")
    offers.mark_offered("2.0")
    offers.mark_offered("1.5")
    assert offers.last_offered == "2.0"
    with pytest.raises(ValueError):
        offers.mark_offered("bogus")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"offered_version": "junk"}'])
def test_damaged_state_file_means_offer_again(tmp_path, content):
    state = tmp_path / "updates.json"
    state.write_text(content, encoding="utf-8")
    offers = UpdateOffers(state)
    assert offers.claim(check_for_update("1.0", config(latest="1.1")))
    assert json.loads(state.read_text(encoding="utf-8"))["offered_version"] == "1.1"


# -- when to check ----------------------------------------------------------------------------

def test_check_due_policies(tmp_path):
    offers = UpdateOffers(tmp_path / "updates.json")
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert offers.check_due("never", now) is False
    assert offers.check_due("startup", now) is True
    assert offers.check_due("daily", now) is True  # never checked
    offers.record_check(now)
    assert offers.check_due("daily", now + timedelta(hours=23)) is False
    assert offers.check_due("daily", now + timedelta(hours=24, seconds=1)) is True
    # A check recorded "in the future" (clock was wrong) must not silence checks forever.
    assert offers.check_due("daily", now - timedelta(days=3)) is True
    with pytest.raises(ConfigurationError):
        offers.check_due("hourly", now)


def test_record_check_keeps_the_offer(tmp_path):
    offers = UpdateOffers(tmp_path / "updates.json")
    offers.mark_offered("3.0")
    offers.record_check()
    assert offers.last_offered == "3.0"


# -- against the real reference server ---------------------------------------------------------

def test_update_check_against_the_reference_server(devserver):
    # Out of the box the server publishes this very version: nothing to offer.
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY) as crm:
        status = ensure_supported(__version__, crm.configuration())
    assert status.kind == "current"

    devserver.admin.set_setting("addin_latest_version", "9.9.9")
    devserver.admin.set_setting("addin_latest_version_url", "https://example.org/get")
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY) as crm:
        configuration = crm.configuration()
    status = check_for_update("0.1.0", configuration)
    assert status.kind == "newer_available"
    assert status.latest == "9.9.9"
    assert status.url == "https://example.org/get"

    devserver.admin.set_setting("addin_min_supported_version", "5.0")
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY) as crm:
        configuration = crm.configuration()
    with pytest.raises(UnsupportedClientError) as caught:
        ensure_supported("0.1.0", configuration)
    assert caught.value.min_supported == "5.0"
