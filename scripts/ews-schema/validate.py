#!/usr/bin/env python3
"""Check every EWS body exchange-sim recorded against Microsoft's EWS schema.

    python3 scripts/ews-schema/validate.py DIR [DIR ...]

DIR is where the simulator recorded (EXCHANGE_SIM_RECORD, crates/exchange-sim/src/record.rs):
one file per request, answer chunk, push notification and push answer, named
<pid>.<start ms>-<exchange>-<part>-<direction>[-<status>]-<operation>.xml.

The schema is crates/exchange-sim/schema/messages.xsd + types.xsd, loaded once with Python's
xmlschema in XSD 1.1 mode from a working copy with two documented changes (working_copy below).
Each SOAP 1.1 envelope is checked for its SOAP shape (Envelope, optional Header, one Body child);
every Header child and the Body child are validated against their global declarations; a
s:Fault is checked by SOAP 1.1's fault shape (faultcode, faultstring, faultactor?, detail?) and
the detail's elements Exchange sends (e:ResponseCode from the schema's ResponseCodeType,
e:Message, t:MessageXml with t:Value, t:LineNumber, t:LinePosition, t:Violation).

What is judged, and how:
  request     must be valid. When it is not, the simulator must have refused it (a SOAP fault
              ErrorSchemaValidation, ErrorInvalidRequest, ErrorInvalidServerVersion,
              VersionMismatch or Client, or an HTTP 4xx): then it counts as "refused, as Exchange
              would"; an invalid request the simulator answered otherwise is a failure, and so is
              a valid request it answered with ErrorSchemaValidation.
  response    an answer with HTTP 200 or 500 must be a valid envelope; other statuses (401, 415,
              ...) are judged only when they carry XML.
  push        the SendNotification the simulator POSTed: must be valid.
  pushanswer  the subscriber's (the client's) answer: judged when its status is 2xx.
  injected    fault injection's deliberately broken answers: counted, not judged.

Prints a summary (files, per operation, failures with the file and its first violation) and
exits 1 on any failure, or when DIR holds no recording at all (the recording itself broke).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

try:
    import xmlschema
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("validate.py: Python's xmlschema is missing: pip install -r scripts/ews-schema/requirements.txt")

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "crates" / "exchange-sim" / "schema"

NAME = re.compile(
    r"^(?P<pid>\d+(?:\.\d+)?)-(?P<exchange>\d+)-(?P<part>\d+)-"
    r"(?P<direction>request|response|injected|push|pushanswer)"
    r"(?:-(?P<status>\d{3}))?-(?P<operation>[A-Za-z0-9]+)\.xml$"
)

# Fault codes by which Exchange refuses a request it cannot read or does not accept.
REFUSALS = {
    "ErrorSchemaValidation",
    "ErrorInvalidRequest",
    "ErrorInvalidServerVersion",
    "VersionMismatch",
    "MustUnderstand",
    "Client",
}


def edit(text: str, old: str, new: str, why: str) -> str:
    """Replaces `old` (which must occur exactly once) by `new`; `why` names the reason."""
    count = text.count(old)
    if count != 1:
        sys.exit(f"validate.py: the schema changed: expected once, found {count}x: {old!r} ({why})")
    return text.replace(old, new)


def working_copy(out: Path) -> Path:
    """Writes the schema with its documented changes into `out`; returns messages.xsd's path.

    1. types.xsd imports the XML namespace (for xml:lang on t:MailboxCulture's neighbour
       ReplyBody and the like) without a schemaLocation: the copy points the import at
       xmlschema's own copy of the W3C xml.xsd, so nothing is fetched from the network.
    2. schema/README.md: the schema declares the children of GetStreamingEventsResponseMessage's
       m:Notifications as t:Notification (a local element of types.xsd's
       NonEmptyArrayOfNotificationsType), but Exchange sends m:Notification, as Microsoft's
       GetStreamingEvents samples show
       (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getstreamingevents-operation)
       and exchangelib and the EWS Managed API read it. The wire wins: the copy declares a global
       m:Notification of t:NotificationType and has the array refer to it.
    3. The schema declares GetStreamingEventsResponseMessage's m:ErrorSubscriptionIds as
       t:NonEmptyArrayOfSubscriptionIdsType (children t:SubscriptionId), but the clients written
       against real Exchange read m:SubscriptionId there: Microsoft's EWS Managed API
       (GetStreamingEventsResponse.LoadExtraErrorDetailsFromXml reads the value in
       XmlNamespace.Messages, and fails on another namespace) and exchangelib
       (services/get_streaming_events.py, f"{MNS}SubscriptionId"). The wire wins again: the
       copy gives m:ErrorSubscriptionIds children m:SubscriptionId of t:SubscriptionIdType.
    Nothing else is changed.
    """
    messages = (SCHEMA_DIR / "messages.xsd").read_text(encoding="utf-8-sig")
    types = (SCHEMA_DIR / "types.xsd").read_text(encoding="utf-8-sig")
    xml_xsd = Path(xmlschema.__file__).parent / "schemas" / "XML" / "xml.xsd"
    (out / "xml.xsd").write_bytes(xml_xsd.read_bytes())

    types = edit(
        types,
        '<xs:import namespace="http://www.w3.org/XML/1998/namespace"/>',
        '<xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="xml.xsd"/>\n'
        f'    <xs:import namespace="{M}"/>',
        "1: the XML namespace schema; 2: the messages namespace for m:Notification",
    )
    types = edit(
        types,
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"\n',
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"\n'
        f'           xmlns:m="{M}"\n',
        "2: the m prefix in types.xsd",
    )
    types = edit(
        types,
        '''<xs:complexType name="NonEmptyArrayOfNotificationsType">
        <xs:sequence>
            <xs:element name="Notification" type="t:NotificationType" minOccurs="0"''',
        '''<xs:complexType name="NonEmptyArrayOfNotificationsType">
        <xs:sequence>
            <xs:element ref="m:Notification" minOccurs="0"''',
        "2: m:Notification under m:Notifications",
    )
    messages = edit(
        messages,
        '<xs:element name="GetStreamingEventsResponse" type="m:GetStreamingEventsResponseType"/>',
        '<xs:element name="GetStreamingEventsResponse" type="m:GetStreamingEventsResponseType"/>\n'
        '    <xs:element name="Notification" type="t:NotificationType"/>',
        "2: the global m:Notification",
    )
    messages = edit(
        messages,
        """<xs:element name="ErrorSubscriptionIds"
                                type="t:NonEmptyArrayOfSubscriptionIdsType" minOccurs="0"/>""",
        """<xs:element name="ErrorSubscriptionIds" minOccurs="0">
                        <xs:complexType>
                            <xs:sequence>
                                <xs:element name="SubscriptionId" type="t:SubscriptionIdType" maxOccurs="unbounded"/>
                            </xs:sequence>
                        </xs:complexType>
                    </xs:element>""",
        "3: m:SubscriptionId under m:ErrorSubscriptionIds",
    )
    (out / "types.xsd").write_text(types, encoding="utf-8")
    (out / "messages.xsd").write_text(messages, encoding="utf-8")
    return out / "messages.xsd"


def load_schema() -> xmlschema.XMLSchema11:
    """The schema, once. `validation="lax"` builds it although ArrayOfTransitionsType breaks
    the Unique Particle Attribution rule (t:Transition's substitution group members precede it
    in one sequence; libxml2 refuses the file for the same reason); that type is in no message
    the simulator handles. Instances are still validated strictly."""
    with tempfile.TemporaryDirectory(prefix="ews-schema-") as tmp:
        path = working_copy(Path(tmp))
        return xmlschema.XMLSchema11(str(path), validation="lax", allow="local")


def foreign_optional_header(elem: ET.Element) -> bool:
    """A header entry outside EWS's namespaces that the receiver need not understand (no
    soap:mustUnderstand="1"): SOAP 1.1 section 4.2.3 lets a receiver ignore it, and EWS does, so
    it is not judged by EWS's schema. One with mustUnderstand="1" must be refused (s:MustUnderstand)
    and stays subject to the check."""
    namespace = elem.tag[1:].split("}", 1)[0] if elem.tag.startswith("{") else ""
    if namespace in (M, T):
        return False
    return elem.get(f"{{{SOAP11}}}mustUnderstand") not in ("1", "true")


class Checker:
    def __init__(self, schema: xmlschema.XMLSchema11):
        self.schema = schema
        self.response_codes = set(schema.maps.types[f"{{{M}}}ResponseCodeType"].enumeration)

    def element(self, elem: ET.Element, where: str, namespaces: dict[str, str]) -> str | None:
        """The first violation of `elem` against its global declaration, or None.
        `namespaces` (prefix to URI, as the document declares them) resolves QName values
        such as xsi:type="t:AlternateIdType"."""
        declaration = self.schema.maps.elements.get(elem.tag)
        if declaration is None:
            return f"{where}: {short(elem.tag)} has no global declaration in the schema"
        try:
            errors = list(declaration.iter_errors(elem, namespaces=namespaces))
        except Exception as error:  # the validator itself failed: say so, per file
            return f"{where}: the validator could not judge it: {type(error).__name__}: {error}"
        for error in errors:
            path = short(getattr(error, "path", None) or "")
            reason = short(error.reason or str(error).splitlines()[0])
            return f"{where}: {path}: {reason}"
        return None

    def envelope(self, data: bytes) -> tuple[str | None, str | None]:
        """(first violation or None, fault code when the body is a s:Fault)."""
        try:
            prefixes = {}
            for event, item in ET.iterparse(_Bytes(data), events=("start-ns",)):
                prefixes.setdefault(item[0], set()).add(item[1])
            root = ET.fromstring(data)
        except ET.ParseError as error:
            return f"not well-formed XML: {error}", None
        # One URI per prefix (the last declared wins; EWS bodies do not rebind prefixes).
        namespaces = {prefix: sorted(uris)[0] for prefix, uris in prefixes.items() if len(uris) == 1}
        if root.tag == f"{{{SOAP12}}}Envelope":
            return "a SOAP 1.2 envelope (EWS is SOAP 1.1)", None
        if root.tag != f"{{{SOAP11}}}Envelope":
            return f"the root is {root.tag}, not a SOAP 1.1 Envelope", None
        children = list(root)
        names = [c.tag for c in children]
        if names not in ([f"{{{SOAP11}}}Body"], [f"{{{SOAP11}}}Header", f"{{{SOAP11}}}Body"]):
            return f"Envelope holds {names}, not (Header?, Body)", None
        if len(children) == 2:
            for child in children[0]:
                if foreign_optional_header(child):
                    continue
                violation = self.element(child, "Header", namespaces)
                if violation:
                    return violation, None
        body = list(children[-1])
        if len(body) != 1:
            return f"Body holds {len(body)} elements, not one", None
        (child,) = body
        if child.tag == f"{{{SOAP11}}}Fault":
            return self.fault(child, prefixes)
        return self.element(child, "Body", namespaces), None

    def fault(self, fault: ET.Element, prefixes: dict) -> tuple[str | None, str | None]:
        """SOAP 1.1 section 4.4's Fault, with the detail Exchange writes."""
        names = [c.tag for c in fault]
        if not (names[:2] == ["faultcode", "faultstring"] and names[2:] in ([], ["faultactor"], ["detail"], ["faultactor", "detail"])):
            return f"Fault holds {names}, not (faultcode, faultstring, faultactor?, detail?)", None
        code = (fault[0].text or "").strip()
        prefix, _, local = code.rpartition(":")
        namespaces = prefixes.get(prefix, set())
        if not prefix or not namespaces:
            return f"faultcode {code!r} is not a QName with a declared prefix", local or None
        if SOAP11 in namespaces:
            if local not in ("VersionMismatch", "MustUnderstand", "Client", "Server") and not local.startswith(("Client.", "Server.")):
                return f"faultcode {code!r} is no SOAP 1.1 fault code", local
        elif T in namespaces:
            if local not in self.response_codes:
                return f"faultcode {code!r} is not in ResponseCodeType", local
        else:
            return f"faultcode {code!r}: prefix bound to {sorted(namespaces)}", local
        if not (fault[1].text or "").strip():
            return "faultstring is empty", local
        if names[-1] == "detail":
            for item in fault[-1]:
                violation = self.detail_item(item)
                if violation:
                    return violation, local
        return None, local

    def detail_item(self, item: ET.Element) -> str | None:
        if item.tag == f"{{{E}}}ResponseCode":
            if (item.text or "").strip() not in self.response_codes:
                return f"detail: e:ResponseCode {item.text!r} is not in ResponseCodeType"
        elif item.tag == f"{{{E}}}Message":
            if len(item):
                return "detail: e:Message holds elements"
        elif item.tag == f"{{{T}}}MessageXml":
            for value in item:
                if value.tag == f"{{{T}}}Value":
                    if not value.get("Name"):
                        return "detail: t:MessageXml/t:Value without Name"
                elif value.tag in (f"{{{T}}}LineNumber", f"{{{T}}}LinePosition"):
                    if not (value.text or "").strip().isdigit():
                        return f"detail: {value.tag} {value.text!r} is not a number"
                elif value.tag != f"{{{T}}}Violation":
                    return f"detail: t:MessageXml holds {value.tag}, which Exchange does not send"
        else:
            return f"detail holds {item.tag}, which Exchange does not send"
        return None


def short(text: str) -> str:
    """Clark names with the usual EWS prefixes, for readable messages."""
    for prefix, namespace in (("m", M), ("t", T), ("s", SOAP11), ("e", E)):
        text = text.replace(f"{{{namespace}}}", f"{prefix}:")
    return text


class _Bytes:
    """A file-like view of bytes for iterparse."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        chunk = self.data[self.pos:end]
        self.pos += len(chunk)
        return chunk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="recording directories")
    parser.add_argument("--max-failures", type=int, default=50, help="failures to print in full")
    args = parser.parse_args()

    started = time.monotonic()
    checker = Checker(load_schema())
    loaded = time.monotonic() - started
    return report(args.dirs, checker, started, loaded, args.max_failures)


def report(dirs: list[Path], checker: Checker, started: float, loaded: float,
           max_failures: int = 50) -> int:
    """Judges every recording in `dirs`, prints the summary; the exit status."""
    files = []
    unnamed = []
    for directory in dirs:
        if not directory.is_dir():
            print(f"validate.py: {directory} is not a directory", file=sys.stderr)
            return 1
        for entry in os.scandir(directory):
            match = NAME.match(entry.name)
            (files if match else unnamed).append((Path(entry.path), match))
    if not files:
        print(f"validate.py: no recorded EWS traffic in {', '.join(map(str, dirs))}: "
              "was EXCHANGE_SIM_RECORD set for the tests?", file=sys.stderr)
        return 1

    # First pass: every file judged on its own; answers indexed for the requests' verdicts.
    results = {}  # path -> (violation, fault code)
    answers = {}  # (pid, exchange) -> (status, fault code)
    for path, match in files:
        direction, status = match["direction"], match["status"]
        data = path.read_bytes()
        if direction == "injected":
            results[path] = ("skip", None)
            continue
        if direction in ("response", "pushanswer") and not data.strip():
            results[path] = ("empty", None)
            answers.setdefault((match["pid"], match["exchange"]), (int(status), None))
            continue
        violation, code = checker.envelope(data)
        results[path] = (violation, code)
        if direction == "response" and match["part"] == "001":
            answers[(match["pid"], match["exchange"])] = (int(status), code)

    # Second pass: verdicts.
    per_operation = collections.defaultdict(collections.Counter)
    failures = []
    for path, match in sorted(files, key=lambda f: f[0].name):
        direction, status, operation = match["direction"], match["status"], match["operation"]
        violation, code = results[path]
        label = f"{direction} {operation}"
        if violation == "skip":
            per_operation[label]["injected, not judged"] += 1
            continue
        if violation == "empty":
            if int(status) in (200, 500) and direction == "response":
                failures.append((path, f"HTTP {status} without a body"))
                per_operation[label]["failed"] += 1
            else:
                per_operation[label][f"HTTP {status}, no body"] += 1
            continue
        if direction == "request":
            answer = answers.get((match["pid"], match["exchange"]))
            answer_status, answer_code = answer if answer else (None, None)
            refused = answer is not None and (
                answer_code in REFUSALS or (400 <= answer_status < 500)
            )
            if violation and refused:
                per_operation[label]["invalid, refused"] += 1
            elif violation and answer is None:
                per_operation[label]["invalid, unanswered"] += 1
            elif violation:
                failures.append((path, f"accepted (HTTP {answer_status}) although {violation}"))
                per_operation[label]["failed"] += 1
            elif answer_code == "ErrorSchemaValidation":
                failures.append((path, "valid per the schema, yet refused with ErrorSchemaValidation"))
                per_operation[label]["failed"] += 1
            else:
                per_operation[label]["valid"] += 1
            continue
        if direction in ("response", "pushanswer") and not (
            int(status) in (200, 500) or (direction == "pushanswer" and 200 <= int(status) < 300)
        ):
            if violation and violation.startswith(("not well-formed", "the root is")):
                per_operation[label][f"HTTP {status}, not SOAP"] += 1
                continue
        if violation:
            failures.append((path, violation))
            per_operation[label]["failed"] += 1
        else:
            per_operation[label]["valid"] += 1

    elapsed = time.monotonic() - started
    print(f"EWS schema check: {len(files)} files in {', '.join(map(str, dirs))} "
          f"(schema loaded in {loaded:.1f} s, all in {elapsed:.1f} s)")
    for label in sorted(per_operation):
        counts = ", ".join(f"{n} {what}" for what, n in sorted(per_operation[label].items()))
        print(f"  {label:<48} {counts}")
    if unnamed:
        print(f"  ({len(unnamed)} files with other names ignored, e.g. {unnamed[0][0].name})")
    if failures:
        print(f"\n{len(failures)} failures:")
        for path, violation in failures[:max_failures]:
            print(f"  {path.name}: {violation}")
        if len(failures) > max_failures:
            print(f"  ... and {len(failures) - max_failures} more")
        print(f"\n{len(files) - len(failures)} passed, {len(failures)} failed")
        return 1
    print(f"\n{len(files)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
