#!/usr/bin/env python3
"""exchangelib, unmodified, against exchange-sim: a client that is not ours, whose authors test
it against real Exchange, must work against the simulator as it works against Exchange.

    python3 scripts/exchangelib/run.py --sim target/debug/exchange-sim [--keep-going]

Starts the simulator binary on loopback (free ports) with scripts/exchangelib/scenario.toml,
trusts its CA through REQUESTS_CA_BUNDLE (exchangelib uses requests, which reads it), and points
exchangelib at its EWS URL with a Configuration (service endpoint, credentials, auth type, no
autodiscover). Then, once as a service account with ApplicationImpersonation
(access_type=IMPERSONATION, signing in with NTLM) and once as one with delegate access
(access_type=DELEGATE, signing in with Basic):

  1. account.root and account.inbox: GetFolder on the distinguished folders root and inbox
     (exchangelib's usual start; before it, exchangelib asks the server's version with a
     ConvertId, as it does against any server whose version it is not told),
  2. ResolveNames for the mailbox,
  3. GetItem: a message delivered with High importance and a sender's display name, fetched
     with account.fetch(ids, only_fields=[subject, author, sender, importance]) (exchangelib's
     IdOnly shape plus AdditionalProperties), must come back with those values,
  4. a pull subscription: subscribe_to_pull, mail arrives (the simulator's admin API),
     get_events until a NewMailEvent,
  5. a streaming subscription: subscribe_to_streaming, get_streaming_events while mail arrives,
     until a NewMailEvent,
  6. a push subscription: subscribe_to_push to a callback server this script runs on loopback,
     which answers as exchangelib documents (SendNotification.parse, then ok_payload), until a
     NewMailEvent arrives.

With delegate access (FullAccess on the mailbox), step 3 reads the item as well, and steps 4-6
expect Exchange's documented refusal instead,
ErrorSubscriptionDelegateAccessNotSupported (Microsoft's "Handling delegation-related errors in
EWS in Exchange": notifications are subscribed as the mailbox owner or by impersonation).

Every step is printed; the first failure ends the run with exit status 1 (with --keep-going,
every step runs and the failures are listed at the end). The simulator's log is in the work
directory (printed at the start). With EXCHANGE_SIM_RECORD set, the simulator records this
traffic too, for scripts/ews-schema/validate.py.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAILBOX = "mara@contoso.com"
ACCOUNTS = {
    # access type -> (logon, password, exchangelib auth_type name), as in scenario.toml: the
    # impersonation pass signs in with NTLM (down-level logon name, the simulator's NTLMv2 with
    # channel binding), the delegate pass with Basic (UPN), so both of the simulator's
    # on-premises sign-ins meet a client that is not ours.
    "impersonation": ("CONTOSO\\svc-impersonation", "Impersonation-Pa55", "NTLM"),
    "delegate": ("svc-delegate@contoso.com", "Delegate-Pa55", "BASIC"),
}
WAIT = 30.0  # seconds to wait for an event to arrive


class Sim:
    """The exchange-sim binary, started on free loopback ports."""

    def __init__(self, binary: str, scenario: Path, workdir: Path):
        self.ca = workdir / "exchange-sim-ca.pem"
        self.log_path = workdir / "exchange-sim.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(Path(binary).resolve()), "--scenario", str(scenario.resolve()), "--https", "127.0.0.1:0",
             "--http", "127.0.0.1:0", "--ca-out", str(self.ca)],
            stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=workdir,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump():
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.log.write(line)
                self.log.flush()
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 120
        self.https = self.http = None
        while self.https is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"exchange-sim did not start; its log: {self.log_path}")
            found = re.search(r"HTTPS\s+(\S+)\s+HTTP\s+(\S+)", line)
            if found:
                self.https, self.http = found.group(1), found.group(2)
        self.ews_url = f"https://{self.https}/EWS/Exchange.asmx"

    def deliver(self, subject: str, importance: str | None = None, from_name: str | None = None) -> str:
        """New mail in the mailbox's inbox, through the admin API; its item id."""
        mail = {"subject": subject, "from": "boss@contoso.com"}
        if importance is not None:
            mail["importance"] = importance
        if from_name is not None:
            mail["from_name"] = from_name
        request = urllib.request.Request(
            f"http://{self.http}/_sim/mailboxes/{MAILBOX}/messages",
            data=json.dumps(mail).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)["item_id"]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


class Failed(Exception):
    pass


def new_mail_events(notification) -> list:
    from exchangelib.properties import NewMailEvent

    return [e for e in notification.events if isinstance(e, NewMailEvent)]


class PushReceiver:
    """The subscriber's callback endpoint, answering as exchangelib documents it."""

    def __init__(self, protocol):
        from exchangelib.services import SendNotification

        self.notifications: queue.Queue = queue.Queue()
        self.errors: queue.Queue = queue.Queue()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ws = SendNotification(protocol=protocol)
                try:
                    for notification in ws.parse(body):
                        receiver.notifications.put(notification)
                    answer = ws.ok_payload()
                except Exception as error:  # reported by the step, not swallowed
                    receiver.errors.put(f"{type(error).__name__}: {error}")
                    self.send_response(500)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ews-callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def steps_for(sim: Sim, access: str, tell_version: bool):
    """The steps of one pass, as (name, function) pairs sharing `state`."""
    import exchangelib
    from exchangelib import DELEGATE, IMPERSONATION, Account, Build, Configuration, Credentials, Version

    user, password, auth = ACCOUNTS[access]
    state = {}

    def account():
        config = Configuration(
            service_endpoint=sim.ews_url,
            credentials=Credentials(user, password),
            auth_type=getattr(exchangelib, auth),
            version=Version(build=Build(15, 2)) if tell_version else None,
        )
        state["account"] = Account(
            primary_smtp_address=MAILBOX,
            config=config,
            autodiscover=False,
            access_type=IMPERSONATION if access == "impersonation" else DELEGATE,
        )
        return f"{user} ({auth}) as {MAILBOX} at {sim.ews_url}"

    def root():
        folder = state["account"].root
        return f"root {folder.id[:24]}... (server version {state['account'].version})"

    def inbox():
        folder = state["account"].inbox
        if folder.name is None:
            raise Failed(f"the inbox came back without a name: {folder!r}")
        return f"inbox {folder.name!r}, {folder.unread_count} unread"

    def resolve_names():
        found = state["account"].protocol.resolve_names([MAILBOX])
        addresses = [getattr(m, "email_address", None) for m in found]
        if MAILBOX not in addresses:
            raise Failed(f"ResolveNames({MAILBOX}) gave {found!r}")
        return f"{len(found)} match(es): {addresses}"

    def fetch():
        subject = f"details for {access}"
        item = sim.deliver(subject, importance="high", from_name="The Boss")
        found = list(state["account"].fetch(
            ids=[(item, None)], only_fields=["subject", "author", "sender", "importance"]
        ))
        if len(found) != 1 or isinstance(found[0], Exception):
            raise Failed(f"GetItem({item[:24]}...) gave {found!r}")
        message = found[0]
        got = {
            "subject": message.subject,
            "importance": message.importance,
            "author": (message.author.name, message.author.email_address, message.author.routing_type)
            if message.author else None,
            "sender": (message.sender.name, message.sender.email_address) if message.sender else None,
        }
        wanted = {
            "subject": subject,
            "importance": "High",
            "author": ("The Boss", "boss@contoso.com", "SMTP"),
            "sender": ("The Boss", "boss@contoso.com"),
        }
        if got != wanted:
            raise Failed(f"account.fetch gave {got!r}, not {wanted!r}")
        return f"{type(message).__name__} {message.subject!r}, {message.importance}, from {message.author.name}"

    def pull():
        inbox = state["account"].inbox
        subscription, watermark = inbox.subscribe_to_pull()
        item = sim.deliver("pull")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            # get_events yields notifications until one has MoreEvents false.
            for notification in inbox.get_events(subscription, watermark):
                if notification.events:
                    watermark = notification.events[-1].watermark or watermark
                events = new_mail_events(notification)
                if events:
                    inbox.unsubscribe(subscription)
                    return f"NewMailEvent for {events[0].item_id.id[:24]}... (delivered {item[:24]}...)"
            time.sleep(0.5)
        raise Failed(f"no NewMailEvent within {WAIT} s")

    def streaming():
        inbox = state["account"].inbox
        subscription = inbox.subscribe_to_streaming()
        timer = threading.Timer(1.0, sim.deliver, args=("streaming",))
        timer.start()
        found = None
        stream = inbox.get_streaming_events(
            subscription, connection_timeout=1, max_notifications_returned=3
        )
        try:
            for notification in stream:
                events = new_mail_events(notification)
                if events:
                    found = events[0]
                    break
        finally:
            timer.cancel()
            # The stream holds exchangelib's session until it is closed: unsubscribing from
            # inside the loop would wait for that session for ever.
            stream.close()
        if found is None:
            raise Failed("the stream ended without a NewMailEvent")
        inbox.unsubscribe(subscription)
        return f"NewMailEvent for {found.item_id.id[:24]}..."

    def push():
        account = state["account"]
        receiver = PushReceiver(account.protocol)
        try:
            account.inbox.subscribe_to_push(callback_url=receiver.url, status_frequency=1)
            sim.deliver("push")
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                if not receiver.errors.empty():
                    raise Failed(f"a push notification could not be read: {receiver.errors.get()}")
                try:
                    notification = receiver.notifications.get(timeout=0.5)
                except queue.Empty:
                    continue
                events = new_mail_events(notification)
                if events:
                    return f"NewMailEvent for {events[0].item_id.id[:24]}... at {receiver.url}"
            raise Failed(f"no NewMailEvent pushed within {WAIT} s")
        finally:
            receiver.close()

    def refused_to_delegate(subscribe):
        """Exchange does not take subscriptions by delegate access: the documented answer is
        ErrorSubscriptionDelegateAccessNotSupported ("Handling delegation-related errors in EWS
        in Exchange", learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/
        handling-delegation-related-errors-in-ews-in-exchange: subscribe as the mailbox owner,
        or by impersonation). exchangelib must meet exactly that error."""
        from exchangelib.errors import ErrorSubscriptionDelegateAccessNotSupported

        def step():
            try:
                subscribe(state["account"].inbox)
            except ErrorSubscriptionDelegateAccessNotSupported as error:
                return f"refused as Exchange refuses it: {type(error).__name__}"
            raise Failed("a subscription by delegate access was accepted")
        return step

    if access == "delegate":
        return [
            ("Account (no autodiscover)", account),
            ("account.root: GetFolder root", root),
            ("account.inbox: GetFolder inbox", inbox),
            ("ResolveNames", resolve_names),
            ("GetItem: account.fetch(only_fields=...)", fetch),
            ("pull: subscribe_to_pull refused", refused_to_delegate(lambda f: f.subscribe_to_pull())),
            ("streaming: subscribe_to_streaming refused",
             refused_to_delegate(lambda f: f.subscribe_to_streaming())),
            ("push: subscribe_to_push refused",
             refused_to_delegate(lambda f: f.subscribe_to_push(callback_url="https://127.0.0.1:9/"))),
        ]
    return [
        ("Account (no autodiscover)", account),
        ("account.root: GetFolder root", root),
        ("account.inbox: GetFolder inbox", inbox),
        ("ResolveNames", resolve_names),
        ("GetItem: account.fetch(only_fields=...)", fetch),
        ("pull: subscribe_to_pull + get_events", pull),
        ("streaming: subscribe_to_streaming + get_streaming_events", streaming),
        ("push: subscribe_to_push + callback", push),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", required=True, help="the exchange-sim binary")
    parser.add_argument("--scenario", default=str(HERE / "scenario.toml"))
    parser.add_argument("--access", choices=sorted(ACCOUNTS), action="append",
                        help="run only this pass (repeatable; default: both)")
    parser.add_argument("--tell-version", action="store_true",
                        help="give exchangelib the version (Exchange 2019) instead of letting it "
                             "ask with ConvertId (for listing the gaps behind that first call)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every step even after a failure (to list every gap)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="exchangelib-sim-"))
    print(f"exchangelib run: work directory {workdir}", flush=True)
    sim = Sim(args.sim, Path(args.scenario), workdir)
    os.environ["REQUESTS_CA_BUNDLE"] = str(sim.ca)
    import exchangelib

    print(f"exchangelib {exchangelib.__version__} against exchange-sim at {sim.ews_url}", flush=True)
    failures = []
    passed = 0
    try:
        for access in args.access or ["impersonation", "delegate"]:
            print(f"\n== access_type={access.upper()}", flush=True)
            for name, step in steps_for(sim, access, args.tell_version):
                started = time.monotonic()
                try:
                    detail = step()
                except Exception as error:
                    elapsed = time.monotonic() - started
                    print(f"  FAIL {name} ({elapsed:.1f} s): {type(error).__name__}: {error}", flush=True)
                    if os.environ.get("EXCHANGELIB_RUN_TRACE"):
                        traceback.print_exc()
                    failures.append(f"{access}: {name}: {type(error).__name__}: {error}")
                    if not args.keep_going:
                        break
                    continue
                passed += 1
                print(f"  ok   {name} ({time.monotonic() - started:.1f} s): {detail}", flush=True)
            if failures and not args.keep_going:
                break
    finally:
        sim.stop()
    print(f"\nexchangelib: {passed} passed, {len(failures)} failed")
    for failure in failures:
        print(f"  {failure}")
    if failures:
        print(f"(exchange-sim's log: {sim.log_path})")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
