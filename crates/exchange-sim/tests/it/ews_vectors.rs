//! Replays of the remaining request vectors (with the ids and watermarks of a live
//! subscription substituted) against the simulator, checked against the documented responses;
//! and the directory operations.

use ews_proto::operations::*;
use ews_proto::soap::{ResponseClass, read_envelope};
use ews_proto::{BaseFolderId, EventType, ResponseCode};

use crate::ews::{MARA, read_until};
use crate::support::{self, Ews};

/// EWS as Mara herself (the vectors carry no impersonation), with affinity.
async fn as_mara(sim: &exchange_sim::Sim) -> Ews<'static> {
    let mut ews = Ews::new(sim, MARA)
        .header("X-AnchorMailbox", MARA)
        .header("X-PreferServerAffinity", "true");
    ews.basic = Some((MARA, "Mara-Pa55"));
    let probe = ews
        .post(support::vector("ews/subscribe-streaming-request.xml"))
        .await;
    let cookie = probe.affinity_cookie().expect("cookie");
    ews.header("Cookie", ews_proto::affinity::cookie_header(&cookie))
}

fn text(path: &str) -> String {
    String::from_utf8(support::vector(path)).expect("UTF-8 vector")
}

#[tokio::test]
async fn get_events_vector() {
    let sim = support::start().await;
    let ews = as_mara(&sim).await;
    let answer = ews
        .post(support::vector("ews/subscribe-pull-request.xml"))
        .await;
    let message = read_envelope::<SubscribeResponse>(&answer.body)
        .expect("parses")
        .body
        .into_first()
        .expect("m");
    let (id, watermark) = (
        message.subscription_id.expect("id"),
        message.watermark.expect("watermark"),
    );
    sim.deliver_mail(MARA, "one", "x@contoso.com")
        .expect("delivered");
    sim.deliver_mail(MARA, "two", "x@contoso.com")
        .expect("delivered");
    let request = text("ews/getevents-request.xml")
        .replace("f6bc657d-dde1-4f94-952d-143b95d6483d", id.as_str())
        .replace("AAAAAMAGAAAAAAAAAQ==", watermark.as_str());
    let answer = ews.post(request).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    // Two NewMailEvents with watermarks, like the documented response.
    assert_eq!(
        support::body_paths(&answer.body),
        support::body_paths(&support::vector("ews/getevents-response.xml"))
    );
    let notification = read_envelope::<GetEventsResponse>(&answer.body)
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .notification
        .expect("n");
    assert_eq!(
        notification
            .events
            .iter()
            .filter(|e| e.kind == EventType::NewMail)
            .count(),
        2
    );
    // Someone else's subscription: access denied, as documented.
    let mut sadie = Ews::new(&sim, MARA);
    sadie.headers = ews.headers.clone();
    sadie.basic = Some(("sadie@contoso.com", "Sadie-Pa55"));
    let denied = sadie
        .post(
            text("ews/getevents-request.xml")
                .replace("f6bc657d-dde1-4f94-952d-143b95d6483d", id.as_str())
                .replace("AAAAAMAGAAAAAAAAAQ==", watermark.as_str()),
        )
        .await;
    assert_eq!(
        support::body_paths(&denied.body),
        support::body_paths(&support::vector("ews/getevents-response-error.xml"))
    );
    let message = read_envelope::<GetEventsResponse>(&denied.body)
        .expect("parses")
        .body
        .into_first()
        .expect("m");
    assert_eq!(
        message.status.code,
        ResponseCode::ErrorSubscriptionAccessDenied
    );
}

#[tokio::test]
async fn get_streaming_events_vector() {
    let sim = support::start().await;
    let ews = as_mara(&sim).await;
    let answer = ews
        .post(support::vector("ews/subscribe-streaming-request.xml"))
        .await;
    let id = read_envelope::<SubscribeResponse>(&answer.body)
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .subscription_id
        .expect("id");
    let vector_id = "JgBibjFwcjAzbWIyMDIubmFtcHJkMDMucHJvZC5vdXRsb29rLmNvbRAAAADwXxVesOnHS5BxUHKwAW88SHjwd1iB0Ag=";
    let request = text("ews/getstreamingevents-request.xml").replace(vector_id, id.as_str());
    let mut http = ews
        .client
        .post(&ews.url)
        .basic_auth(MARA, Some("Mara-Pa55"))
        .body(request);
    for (name, value) in &ews.headers {
        http = http.header(*name, value);
    }
    let response = http.send().await.expect("stream");
    sim.deliver_mail(MARA, "streamed", "x@contoso.com")
        .expect("delivered");
    let mut raw = Vec::new();
    let mut response = response;
    let mut splitter = ews_proto::EnvelopeSplitter::new();
    'read: while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk()).await
    {
        splitter.push(&chunk);
        while let Some(envelope) = splitter.next_envelope().expect("splits") {
            if support::body_paths(&envelope)
                .iter()
                .any(|p| p.ends_with("NewMailEvent"))
            {
                raw = envelope;
                break 'read;
            }
        }
    }
    // Created, NewMail and Modified with UnreadCount, like the documented stream.
    assert_eq!(
        support::body_paths(&raw),
        support::body_paths(&support::vector(
            "ews/getstreamingevents-response-events.xml"
        ))
    );
    // A moved mailbox fails the stream with the documented error structure.
    let answer = ews
        .post(support::vector("ews/subscribe-streaming-request.xml"))
        .await;
    let id = read_envelope::<SubscribeResponse>(&answer.body)
        .expect("p")
        .body
        .into_first()
        .expect("m")
        .subscription_id
        .expect("id");
    let cookie = ews
        .headers
        .iter()
        .find(|(n, _)| *n == "Cookie")
        .map(|(_, v)| v.clone())
        .expect("cookie");
    let cookie =
        ews_proto::affinity::cookie_value(&cookie, ews_proto::affinity::BACK_END_OVERRIDE_COOKIE)
            .expect("v")
            .to_owned();
    let mut http = ews
        .client
        .post(&ews.url)
        .basic_auth(MARA, Some("Mara-Pa55"))
        .body(ews_proto::soap::write_envelope(
            &Default::default(),
            &GetStreamingEvents::new(vec![id], 30),
        ));
    for (name, value) in &ews.headers {
        http = http.header(*name, value);
    }
    let response = http.send().await.expect("stream");
    let _ = cookie;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    sim.move_mailbox(MARA, "mbx2").expect("moved");
    let (messages, _) = read_until(response, |m| m.iter().any(|m| !m.status.is_success())).await;
    let error = messages
        .into_iter()
        .find(|m| !m.status.is_success())
        .expect("error");
    assert_eq!(error.status.code, ResponseCode::ErrorInvalidSubscription);
    assert_eq!(error.connection_status, Some(ConnectionStatus::Closed));
}

#[tokio::test]
async fn unsubscribe_vectors() {
    let sim = support::start().await;
    let ews = as_mara(&sim).await;
    let answer = ews
        .post(support::vector("ews/subscribe-pull-request.xml"))
        .await;
    let id = read_envelope::<SubscribeResponse>(&answer.body)
        .expect("p")
        .body
        .into_first()
        .expect("m")
        .subscription_id
        .expect("id");
    let request = text("ews/unsubscribe-request.xml")
        .replace("e6fbf5c1-7e26-4bc6-a5f2-882063d5e34e", id.as_str());
    let answer = ews.post(request.clone()).await;
    assert_eq!(
        support::body_paths(&answer.body),
        support::body_paths(&support::vector("ews/unsubscribe-response.xml"))
    );
    // Again: the subscription is gone, as in the documented error.
    let answer = ews.post(request).await;
    assert_eq!(
        support::body_paths(&answer.body),
        support::body_paths(&support::vector(
            "ews/unsubscribe-error-subscriptionnotfound.xml"
        ))
    );
    let message = read_envelope::<UnsubscribeResponse>(&answer.body)
        .expect("p")
        .body
        .into_first()
        .expect("m");
    assert_eq!(message.status.code, ResponseCode::ErrorSubscriptionNotFound);
}

#[tokio::test]
async fn get_folder_reports_unread_count() {
    let sim = support::start().await;
    let ews = as_mara(&sim).await;
    let first = sim
        .deliver_mail(MARA, "a", "x@contoso.com")
        .expect("delivered");
    sim.deliver_mail(MARA, "b", "x@contoso.com")
        .expect("delivered");
    sim.mark_read(MARA, &first, true).expect("read");
    let (_, parsed) = ews
        .call(MARA, &GetFolder::new(vec![BaseFolderId::inbox()]))
        .await;
    let folder = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .folders
        .remove(0);
    assert_eq!(folder.display_name.as_deref(), Some("Inbox"));
    assert_eq!(
        (folder.total_count, folder.unread_count),
        (Some(2), Some(1))
    );
    assert_eq!(sim.unread_count(MARA).expect("mailbox"), 1);
    let moved = sim
        .move_message(MARA, &first, exchange_sim::FolderKind::DeletedItems)
        .expect("moved");
    sim.delete_message(MARA, &moved).expect("deleted");
    let (_, parsed) = ews
        .call(MARA, &GetFolder::new(vec![BaseFolderId::inbox()]))
        .await;
    assert_eq!(
        parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .folders[0]
            .total_count,
        Some(1)
    );
}

#[tokio::test]
async fn resolve_names_and_photos() {
    let sim = support::start().await;
    let ews = as_mara(&sim).await;
    let (_, parsed) = ews.call(MARA, &ResolveNames::directory("Whit")).await;
    let message = parsed.expect("parses").body.into_first().expect("m");
    assert!(message.status.is_success());
    let contact = message.resolutions[0]
        .contact
        .as_ref()
        .expect("contact data");
    assert_eq!(contact.given_name.as_deref(), Some("Mara"));
    assert_eq!(contact.surname.as_deref(), Some("Whitley"));
    assert_eq!(
        message.resolutions[0].mailbox.email_address.as_deref(),
        Some(MARA)
    );
    let (_, parsed) = ews.call(MARA, &ResolveNames::directory("Mar")).await;
    let message = parsed.expect("parses").body.into_first().expect("m");
    assert_eq!(message.status.class, ResponseClass::Warning);
    assert_eq!(
        message.status.code,
        ResponseCode::ErrorNameResolutionMultipleResults
    );
    assert!(message.resolutions.len() >= 2);
    let (_, parsed) = ews
        .call(MARA, &ResolveNames::directory("*)(objectClass=*"))
        .await;
    assert_eq!(
        parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .status
            .code,
        ResponseCode::ErrorNameResolutionNoResults
    );
    let (_, parsed) = ews
        .call(MARA, &GetUserPhoto::new(MARA, UserPhotoSize::HR64x64))
        .await;
    let photo = parsed.expect("parses").body.picture_data.expect("photo");
    assert!(photo.starts_with(b"\x89PNG\r\n\x1a\n"));
    let (_, parsed) = ews
        .call(
            MARA,
            &GetUserPhoto::new("sadie@contoso.com", UserPhotoSize::HR64x64),
        )
        .await;
    assert_eq!(
        parsed.expect("parses").body.status.code,
        ResponseCode::ErrorItemNotFound
    );
}
