"""``tray-client demo`` and TRAY_CLIENT_HOME (issue 15 point 10): the demo lives beside the
profile the variable names, never in it, and never under the platform folders then."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tray_client.demo import demo_home


def test_demo_home_follows_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAY_CLIENT_HOME", str(tmp_path / "profile"))
    assert demo_home(None) == tmp_path / "profile" / "demo"
    assert demo_home(str(tmp_path / "given")) == tmp_path / "given"   # --home wins


def test_headless_demo_writes_under_the_variables_folder(tmp_path):
    env = dict(os.environ, TRAY_CLIENT_HOME=str(tmp_path / "profile"),
               XDG_DATA_HOME=str(tmp_path / "xdg-data"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               XDG_STATE_HOME=str(tmp_path / "xdg-state"))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "tray_client", "demo", "--headless",
                           "--records", "3"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(tmp_path / "profile" / "demo") in done.stdout
    assert (tmp_path / "profile" / "demo" / "crm-demo.db").exists()
    assert not (tmp_path / "xdg-data").exists()


def test_spawned_server_serves_with_the_key_given_and_stops_on_exit(tmp_path):
    import httpx

    from tray_client.crm import CrmClient
    from tray_client.demo import spawned_server

    with spawned_server(tmp_path / "crm.db", user="ann", api_key="key-of-ann",
                        demo_records=2) as url:
        assert url.startswith("http://127.0.0.1:")
        with CrmClient(url, "ann", "key-of-ann") as crm:
            assert crm.count("contacts") == 2          # the demo records, the key it was given
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)                      # stopped with the block


def test_spawned_server_says_why_it_did_not_start(tmp_path):
    from tray_client.demo import spawned_server

    (tmp_path / "a-folder").mkdir()
    with pytest.raises(RuntimeError, match=r"did not start: .*unable to open database"), \
            spawned_server(tmp_path / "a-folder"):
        pass
