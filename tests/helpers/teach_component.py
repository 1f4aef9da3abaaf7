"""Drive the Teach page's rating component from AppTest, which cannot run its JavaScript: send exactly the
trigger value the browser sends on Enter (``{"token", "ratings", "nonce"}``) through Streamlit's own
widget-state path, so the page's callback and checks run as they do for a browser."""

from __future__ import annotations

import json

from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest


def send_batch(at: AppTest, ratings: dict[str, float | None], token: str | None = None, nonce: str = "t") -> AppTest:
    """Submit ``ratings`` as the component would (``token`` defaults to the batch on screen), then rerun."""
    component = at.get("bidi_component")
    assert component, "the page shows no rating component"
    payload = {"token": token or at.session_state["teach_token"], "ratings": ratings, "nonce": nonce}
    states = at._tree.get_widget_states()
    state = WidgetState(id=_make_trigger_id(component[0].proto.id, "events"),
                        json_trigger_value=json.dumps([{"event": "submit", "value": payload}]))
    states.widgets.append(state)
    return at._run(states)


def component_data(at: AppTest) -> dict:
    """What the page sent the component this run (its ``data`` as JSON)."""
    proto = at.get("bidi_component")[0].proto
    if proto.json:
        return json.loads(proto.json)
    return json.loads(proto.mixed.json)
