"""``python flow.py card view|server``: a flow's cards on this machine.

``card view STEP[/TASK]`` writes a card of the latest run (or ``--run-id``) to a file and
prints its path (``--open`` opens it in the browser); ``card server`` serves a page that
lists the flow's runs, their steps and cards, on 127.0.0.1. A realtime card there reloads
itself while its task runs (a ``Refresh`` header), as do the pages that list runs.

The server reads JSON records and the cards' bytes only (nothing is unpickled), and sends
every page sandboxed (:data:`~provider.cards.page.CARD_HEADERS`): a card's own script never
runs, and its page cannot reach the server's other pages on the user's behalf.
"""

from __future__ import annotations

import argparse
import html
import sys
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

from provider.cards.page import CARD_HEADERS
from provider.cards.store import Card, read_cards
from provider.datastore.bytes_blobs import PickledBlob
from provider.datastore.flowstore import FlowDataStore
from provider.exceptions import AirstepError

#: seconds between reloads of the pages that list runs and cards
INDEX_REFRESH = 3


def add_card_commands(commands: Any) -> None:
    card = commands.add_parser(
        "card", help="see the cards of the flow's tasks (@card)", allow_abbrev=False
    )
    actions = card.add_subparsers(dest="card_command", required=True, metavar="ACTION")
    view = actions.add_parser(
        "view", help="write a task's card to a file and print its path", allow_abbrev=False
    )
    view.add_argument("pathspec", metavar="STEP[/TASK]", help="e.g. train or train/2")
    view.add_argument("--run-id", help="the run (default: the latest run)")
    view.add_argument("--id", dest="card_id", help="the card's id, when the step has several")
    view.add_argument("--type", dest="card_type", help="the card's type (default, blank)")
    view.add_argument("--out", help="the folder to write to (default: a temporary folder)")
    view.add_argument("--open", action="store_true", help="open the card in the browser too")
    server = actions.add_parser(
        "server", help="serve the flow's runs and cards locally", allow_abbrev=False
    )
    server.add_argument("--port", type=int, default=8324, help="port on 127.0.0.1 (8324)")
    server.add_argument("--open", action="store_true", help="open the page in the browser")


def run_card_command(store: FlowDataStore, args: argparse.Namespace) -> int:
    if args.card_command == "view":
        return _view(store, args)
    return serve(store, args.port, open_browser=args.open)


def latest_run(store: FlowDataStore) -> str:
    runs = [(r.created_at, run_id) for run_id in store.list_runs() if (r := store.read_run(run_id))]
    if not runs:
        raise AirstepError(
            f"There is no run of {store.flow_name} in {store.root}; start one with `run`."
        )
    return max(runs)[1]


def _view(store: FlowDataStore, args: argparse.Namespace) -> int:
    step, _, task_id = args.pathspec.partition("/")
    run_id = args.run_id or latest_run(store)
    tasks = [task_id] if task_id else store.list_tasks(run_id, step)
    if not tasks:
        raise AirstepError(
            f"Run {store.flow_name}/{run_id} has no step *{step}*; its steps are "
            f"{', '.join(store.list_steps(run_id)) or 'none'}."
        )
    cards = read_cards(store, run_id, step, tasks[0])
    wanted = [
        c
        for c in cards
        if (args.card_id is None or c.id == args.card_id)
        and (args.card_type is None or c.type == args.card_type)
    ]
    where = store.task_key(run_id, step, tasks[0]).pathspec
    if not wanted:
        found = ", ".join(c.label for c in cards) or "none"
        raise AirstepError(
            f"Task {where} has no card matching that (its cards: {found}); add "
            "@card above the step's @step, or pick one with --id."
        )
    for card in wanted:
        path = card.save(args.out)
        print(path)
        if args.open:
            webbrowser.open("file://" + path)
    return 0


def _link(text: str, **query: str) -> str:
    href = "/?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:24px}}"
        f"li{{margin:3px 0}}</style></head><body><h1>{html.escape(title)}</h1>{body}"
        "</body></html>"
    )


def index_page(store: FlowDataStore, run_id: str | None) -> str:
    """The runs of the flow, or one run's steps, tasks and cards."""
    if run_id is None:
        runs = sorted(store.list_runs(), reverse=True)
        items = "".join(f"<li>{_link(r, run=r)}</li>" for r in runs) or "<li>no runs yet</li>"
        return _page(f"{store.flow_name}: runs", f"<ul>{items}</ul>")
    rows, running = [], False
    for step in store.list_steps(run_id):
        for task_id in store.list_tasks(run_id, step):
            cards = read_cards(store, run_id, step, task_id)
            running |= any(not c.final for c in cards)
            links = " ".join(
                _link(
                    c.label + ("" if c.final else " (live)"),
                    run=run_id,
                    step=step,
                    task=task_id,
                    card=str(i),
                )
                for i, c in enumerate(cards)
            )
            rows.append(
                f"<li>{html.escape(step)}/{html.escape(task_id)}: {links or 'no cards'}</li>"
            )
    body = f"<p>{_link('all runs')}</p><ul>{''.join(rows)}</ul>"
    return _page(f"{store.flow_name}/{run_id}", body)


def card_at(store: FlowDataStore, query: dict[str, str]) -> Card | None:
    cards = read_cards(store, query["run"], query["step"], query["task"])
    index = int(query.get("card", "0"))
    return cards[index] if 0 <= index < len(cards) else None


def serve(store: FlowDataStore, port: int, open_browser: bool = False) -> int:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[-1] for k, v in parse_qs(urlparse(self.path).query).items()}
            headers = {**CARD_HEADERS, "Refresh": str(INDEX_REFRESH)}
            try:
                if {"run", "step", "task"} <= set(query):
                    card = card_at(store, query)
                    page = card.html if card else _page("no such card", "")
                    status = 200 if card else 404
                    headers = card.headers if card else dict(CARD_HEADERS)
                else:
                    page, status = index_page(store, query.get("run")), 200
            except PickledBlob as exc:
                page, status = _page("card of an earlier airstep", html.escape(str(exc))), 410
                headers = dict(CARD_HEADERS)
            except (AirstepError, ValueError) as exc:
                page, status = _page("error", html.escape(str(exc))), 400
                headers = dict(CARD_HEADERS)
            data = page.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"Cards of {store.flow_name} at {url} (Ctrl-C stops)", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("stopped", file=sys.stderr)
    return 0
