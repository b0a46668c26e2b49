"""A step whose card holds script, as a custom component's raw HTML may: served from Airflow's
origin, the script must not run (the page is sandboxed)."""

from provider import FlowSpec, card, current, step
from provider.cards import Markdown, MetaflowCardComponent

#: what the script would do if it ran: retitle the page, show a marker, and call the REST API
#: with the browser's login
SCRIPT = (
    "<script>document.title = 'SCRIPT RAN';"
    "document.getElementById('marker').textContent = 'script ran';"
    "fetch('/api/v2/connections').then(r => document.body.append('fetched ' + r.status));"
    "</script>"
)


class RawHtml(MetaflowCardComponent):
    def __init__(self, html):
        self.html = html

    def render(self):
        return self.html


class ScriptCardFlow(FlowSpec):
    @card(type="blank")
    @step
    def start(self):
        current.card.append(Markdown("A card with a script in it."))
        current.card.append(RawHtml('<p id="marker">script did not run</p>' + SCRIPT))
        self.next(self.end)

    @step
    def end(self):
        pass


dag = ScriptCardFlow.to_dag()

if __name__ == "__main__":
    ScriptCardFlow()
