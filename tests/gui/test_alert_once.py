"""Issue 15 point 4: one failing record is announced once, by its name; the icon stays on
"attention" while the problem stands (no green/amber flipping at every interval)."""

from __future__ import annotations

from tray_client.gui.alerts import AlertPolicy
from tray_client.gui.state import TrayState
from tray_client.sync.report import RecordError

from .conftest import FakeResult

ANN = RecordError("contacts", "item-1", "12", "Ann Lee", "local_to_crm",
                  "The CRM rejected the e-mail address.")
BOB = RecordError("tasks", None, "7", "Call Bob", "crm_to_local", "Due date is not a date")


def test_a_failing_record_is_announced_once_by_name():
    policy = AlertPolicy()
    (alert,) = policy.for_result(FakeResult(outcome="partial", errors=[ANN]))
    assert alert.title == "Could not sync contact “Ann Lee”"
    assert alert.message.startswith("The CRM rejected the e-mail address. It is retried")
    for _ in range(5):   # the same record failing again (its message may change): silence
        again = RecordError(*list(ANN.__dict__.values())[:5], "Another wording.")
        assert policy.for_result(FakeResult(outcome="partial", errors=[again])) == []
    # A second record failing is new: announced, and only it.
    (alert,) = policy.for_result(FakeResult(outcome="partial", errors=[ANN, BOB]))
    assert alert.title == "Could not sync task “Call Bob”"


def test_a_problem_stands_until_a_run_covering_its_direction_goes_by_without_it():
    policy = AlertPolicy()
    policy.for_result(FakeResult(outcome="partial", errors=[BOB]), "pull")
    policy.for_result(FakeResult(), "push")          # says nothing about pulling
    assert list(policy.problems.values()) == [BOB]
    policy.for_result(FakeResult(), "both")          # pulled fine: solved
    assert policy.problems == {}
    # Failing again after it was solved is a new problem.
    assert [a.title for a in policy.for_result(FakeResult(outcome="partial", errors=[BOB]))
            ] == ["Could not sync task “Call Bob”"]


def test_several_new_records_in_one_alert_naming_them():
    policy = AlertPolicy()
    (alert,) = policy.for_result(FakeResult(outcome="partial", errors=[ANN, BOB]))
    assert alert.title == "2 records could not be synced"
    assert alert.message.startswith("Contact “Ann Lee”: The CRM rejected the e-mail address; "
                                    "task “Call Bob”: Due date is not a date.")


def test_app_alerts_once_and_keeps_the_icon_steady(qtbot, make_app, fake_client):
    # The record fails to push; the 30 s push runs and the pulls alternate as scheduled.
    def run(**kw):
        if kw["phase"] == "pull":
            return FakeResult(trigger=kw["trigger"])    # pulls are fine: no word on ANN
        return FakeResult(outcome="partial", errors=[ANN], trigger=kw["trigger"])

    fake_client.sync_fn = run
    app = make_app()
    app.start()
    shown, states = [], []
    app.alert_shown.connect(shown.append)
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.runner.request("push", "automatic")
    app.state_changed.connect(states.append)
    swaps = app.tray.icon_swaps
    for phase in ("pull", "push", "pull", "push", "pull"):
        with qtbot.waitSignal(app.runner.idle, timeout=3000):
            app.runner.request(phase, "automatic")
    assert [a.title for a in shown] == ["Could not sync contact “Ann Lee”"]
    assert app.state == TrayState.ATTENTION
    assert states == [] and app.tray.icon_swaps == swaps   # not one flip
    # Solved: the next push goes by without it, and the icon says so.
    fake_client.sync_fn = lambda **kw: FakeResult(trigger=kw["trigger"])
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.runner.request("push", "automatic")
    assert app.state == TrayState.IDLE
