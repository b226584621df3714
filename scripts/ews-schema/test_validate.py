#!/usr/bin/env python3
"""Tests of validate.py: it passes what Exchange sends and catches what Exchange would not.

    python3 scripts/ews-schema/test_validate.py

The good bodies are the public wire samples in vectors/ews (their sources in vectors/SOURCES.md);
each bad one is a good one with one thing broken. The schema is loaded once for all tests.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate  # noqa: E402

VECTORS = validate.ROOT / "vectors" / "ews"
CHECKER = None


def checker() -> validate.Checker:
    global CHECKER
    if CHECKER is None:
        CHECKER = validate.Checker(validate.load_schema())
    return CHECKER


def vector(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8")


SCHEMA_FAULT = """<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorSchemaValidation</faultcode><faultstring xml:lang="en-US">The request failed schema validation.</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorSchemaValidation</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The request failed schema validation.</e:Message><t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:LineNumber>1</t:LineNumber><t:LinePosition>300</t:LinePosition><t:Violation>The element 'StreamingSubscriptionRequest' has invalid child element 'DistinguishedFolderId'.</t:Violation></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>"""

BAD_SUBSCRIBE = vector("subscribe-streaming-request.xml").replace(
    "<t:FolderIds>", "<t:DistinguishedFolderId Id=\"inbox\"/><t:FolderIds>"
)


class Validate(unittest.TestCase):
    def judge(self, files: dict[str, str]) -> tuple[int, str]:
        with tempfile.TemporaryDirectory(prefix="ews-schema-test-") as tmp:
            for name, body in files.items():
                (Path(tmp) / name).write_text(body, encoding="utf-8")
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                status = validate.report([Path(tmp)], checker(), time.monotonic(), 0.0)
        return status, out.getvalue()

    def test_every_public_sample_passes(self):
        files = {}
        for i, path in enumerate(sorted(VECTORS.glob("*.xml")), start=1):
            stem = path.stem
            if "request" in stem and "result" not in stem:
                direction = "request"
            elif stem == "sendnotification-push":
                direction = "push"
            elif stem.startswith("sendnotification-result"):
                direction = "pushanswer-200"
            elif stem.startswith("fault"):
                direction = "response-500"
            else:
                direction = "response-200"
            files[f"1-{i:07d}-000-{direction}-x.xml"] = path.read_text(encoding="utf-8")
        self.assertGreaterEqual(len(files), 15)
        status, out = self.judge(files)
        self.assertEqual(status, 0, out)
        self.assertIn(f"{len(files)} passed, 0 failed", out)

    def test_a_misnamed_event_in_an_answer_fails(self):
        body = vector("getstreamingevents-response-events.xml").replace("NewMailEvent", "NewMailEvnt")
        status, out = self.judge({"1-0000001-001-response-200-GetStreamingEventsResponse.xml": body})
        self.assertEqual(status, 1, out)
        self.assertIn("NewMailEvnt' at position 3", out)

    def test_an_invalid_request_the_simulator_accepted_fails(self):
        status, out = self.judge({
            "1-0000001-000-request-Subscribe.xml": BAD_SUBSCRIBE,
            "1-0000001-001-response-200-SubscribeResponse.xml": vector("subscribe-streaming-response.xml"),
        })
        self.assertEqual(status, 1, out)
        self.assertIn("accepted (HTTP 200) although", out)
        self.assertIn("t:DistinguishedFolderId", out)

    def test_a_foreign_header_is_ignored_unless_it_must_be_understood(self):
        def with_header(attributes: str) -> str:
            return vector("subscribe-streaming-request.xml").replace(
                "<soap:Header>",
                f'<soap:Header><x:Trace xmlns:x="urn:example"{attributes}>1</x:Trace>',
            )
        optional = with_header("")
        self.assertIn("urn:example", optional, "the vector has a soap:Header to extend")
        status, out = self.judge({
            "1-0000001-000-request-Subscribe.xml": optional,
            "1-0000001-001-response-200-SubscribeResponse.xml": vector("subscribe-streaming-response.xml"),
        })
        self.assertEqual(status, 0, out)
        status, out = self.judge({
            "1-0000001-000-request-Subscribe.xml": with_header(' soap:mustUnderstand="1"'),
            "1-0000001-001-response-200-SubscribeResponse.xml": vector("subscribe-streaming-response.xml"),
        })
        self.assertEqual(status, 1, out)
        self.assertIn("Trace", out)
        must_understand = (
            '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            "<s:Body><s:Fault><faultcode>s:MustUnderstand</faultcode>"
            '<faultstring xml:lang="en-US">not understood</faultstring></s:Fault></s:Body></s:Envelope>'
        )
        status, out = self.judge({
            "1-0000001-000-request-Subscribe.xml": with_header(' soap:mustUnderstand="1"'),
            "1-0000001-001-response-500-Fault.xml": must_understand,
        })
        self.assertEqual(status, 0, out)
        self.assertIn("1 invalid, refused", out)

    def test_an_invalid_request_refused_with_error_schema_validation_passes(self):
        status, out = self.judge({
            "1-0000001-000-request-Subscribe.xml": BAD_SUBSCRIBE,
            "1-0000001-001-response-500-Fault.xml": SCHEMA_FAULT,
        })
        self.assertEqual(status, 0, out)
        self.assertIn("1 invalid, refused", out)

    def test_a_valid_request_refused_with_error_schema_validation_fails(self):
        status, out = self.judge({
            "1-0000001-000-request-Subscribe.xml": vector("subscribe-streaming-request.xml"),
            "1-0000001-001-response-500-Fault.xml": SCHEMA_FAULT,
        })
        self.assertEqual(status, 1, out)
        self.assertIn("valid per the schema, yet refused", out)

    def test_a_soap12_request_must_be_refused(self):
        body = vector("unsubscribe-request.xml").replace(
            "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"
        )
        status, out = self.judge({
            "1-0000001-000-request-Unsubscribe.xml": body,
            "1-0000001-001-response-200-UnsubscribeResponse.xml": vector("unsubscribe-response.xml"),
        })
        self.assertEqual(status, 1, out)
        self.assertIn("SOAP 1.2", out)

    def test_error_subscription_ids_hold_m_subscription_id_as_on_the_wire(self):
        def answer(prefix: str) -> str:
            return vector("getstreamingevents-response-error.xml").replace(
                "<m:ConnectionStatus>",
                f"<m:ErrorSubscriptionIds><{prefix}:SubscriptionId>AAA=</{prefix}:SubscriptionId>"
                "</m:ErrorSubscriptionIds><m:ConnectionStatus>",
            )
        status, out = self.judge({"1-0000001-001-response-200-GetStreamingEventsResponse.xml": answer("m")})
        self.assertEqual(status, 0, out)
        status, out = self.judge({"1-0000001-001-response-200-GetStreamingEventsResponse.xml": answer("t")})
        self.assertEqual(status, 1, out)
        self.assertIn("t:SubscriptionId", out)

    def test_xsi_type_qnames_resolve_with_the_documents_prefixes(self):
        def answer(xsi_type: str) -> str:
            return (
                '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                f'<m:ConvertIdResponse xmlns:m="{validate.M}" xmlns:t="{validate.T}"><m:ResponseMessages>'
                '<m:ConvertIdResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
                '<m:AlternateId xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                f'xsi:type="{xsi_type}" Format="EwsId" Id="AAA=" Mailbox="mara@contoso.com"/>'
                '</m:ConvertIdResponseMessage></m:ResponseMessages></m:ConvertIdResponse></s:Body></s:Envelope>'
            )
        status, out = self.judge({"1-0000001-001-response-200-ConvertIdResponse.xml": answer("t:AlternateIdType")})
        self.assertEqual(status, 0, out)
        # The abstract base type may not stand for itself.
        status, out = self.judge({"1-0000001-001-response-200-ConvertIdResponse.xml": answer("t:AlternateIdBaseType")})
        self.assertEqual(status, 1, out)

    def test_a_fault_with_an_unknown_response_code_fails(self):
        body = vector("fault-server-busy.xml").replace(">ErrorServerBusy<", ">ErrorBusy<")
        status, out = self.judge({"1-0000001-001-response-500-Fault.xml": body})
        self.assertEqual(status, 1, out)
        self.assertIn("'ErrorBusy' is not in ResponseCodeType", out)

    def test_a_fault_with_children_out_of_order_fails(self):
        body = SCHEMA_FAULT.replace(
            '<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorSchemaValidation</faultcode><faultstring xml:lang="en-US">The request failed schema validation.</faultstring>',
            '<faultstring xml:lang="en-US">The request failed schema validation.</faultstring><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorSchemaValidation</faultcode>',
        )
        status, out = self.judge({"1-0000001-001-response-500-Fault.xml": body})
        self.assertEqual(status, 1, out)
        self.assertIn("not (faultcode, faultstring", out)

    def test_an_ok_answer_without_a_body_fails_but_a_401_does_not(self):
        status, out = self.judge({"1-0000001-001-response-200-unreadable.xml": ""})
        self.assertEqual(status, 1, out)
        status, out = self.judge({"1-0000001-001-response-401-unreadable.xml": ""})
        self.assertEqual(status, 0, out)

    def test_injected_answers_are_not_judged(self):
        status, out = self.judge({"1-0000001-001-injected-200-unreadable.xml": "<s:Envel"})
        self.assertEqual(status, 0, out)
        self.assertIn("injected, not judged", out)

    def test_an_empty_recording_fails(self):
        status, out = self.judge({})
        self.assertEqual(status, 1, out)
        self.assertIn("no recorded EWS traffic", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
