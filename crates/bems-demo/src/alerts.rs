//! The demo's step for rich, private alerts: Mara makes her CEO a VIP, and the CEO's mail
//! reaches her phone time-sensitive, naming the sender; Alfred's app registers a public key,
//! and his alert crosses APNs sealed, to be opened by the "device" (this process, holding
//! the private key).

use std::time::Duration;

use exchange_sim::NewMessage;
use exchange_sim::push::ApnsRequest;
use push_delivery::seal::DeviceSecret;
use reqwest::Client;
use serde_json::{Value, json};

use crate::{TENANT, TOPIC, World, apns_token, say};

/// The next push mock APNs accepts for `token` after the first `seen` ones (at most 15 s).
async fn next_push(world: &World, token: &str, seen: usize) -> Result<ApnsRequest, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let pushes: Vec<ApnsRequest> = world
            .apns
            .received()
            .into_iter()
            .filter(|r| r.token == token && r.status == 200)
            .collect();
        if let Some(push) = pushes.into_iter().nth(seen) {
            return Ok(push);
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("no push for {}… within 15 s", &token[..8]));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn pushes_to(world: &World, token: &str) -> usize {
    world
        .apns
        .received()
        .iter()
        .filter(|r| r.token == token && r.status == 200)
        .count()
}

/// Runs the step against the service at `base`; the tenant lets alerts carry the sender and
/// the subject.
pub(crate) async fn run(
    world: &World,
    base: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    const MARA: &str = "mara@contoso.com";
    const ALFRED: &str = "alfred@contoso.com";
    let http = Client::new();
    say(out, "8. rich, private alerts:".into());

    let rules = json!({"vip": ["ceo@contoso.com"], "important": true});
    let status = http
        .put(format!(
            "{base}/v1/tenants/{TENANT}/users/{MARA}/alert-rules"
        ))
        .bearer_auth(world.user_token(MARA)?)
        .body(rules.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .status();
    say(out, format!("   Mara's rules {rules} -> HTTP {status}"));
    let mara = apns_token(1);
    let seen = pushes_to(world, &mara);
    let vip = NewMessage::new("Board meeting moved to 9:00", "ceo@contoso.com")
        .with_from_name("Ada Chief");
    world
        .sim
        .deliver_message(MARA, &vip)
        .map_err(|e| e.to_string())?;
    let push = next_push(world, &mara, seen).await?;
    let aps = &push.payload["aps"];
    say(
        out,
        format!(
            "   VIP mail to Mara -> APNs {} \"{}: {}\" ({})",
            aps["interruption-level"],
            aps["alert"]["title"].as_str().unwrap_or_default(),
            aps["alert"]["body"].as_str().unwrap_or_default(),
            push.header("apns-priority")
                .map_or_else(String::new, |p| format!("priority {p}")),
        ),
    );

    let secret = DeviceSecret::generate();
    let key = secret.public_key();
    let alfred = apns_token(3);
    let status = http
        .post(format!("{base}/v1/tenants/{TENANT}/devices"))
        .bearer_auth(world.user_token(ALFRED)?)
        .json(
            &json!({"mailbox": ALFRED, "platform": "apns", "token": alfred,
                      "app_id": TOPIC, "public_key": key.to_base64url()}),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?
        .status();
    say(
        out,
        format!(
            "   Alfred's app registers its public key {} -> HTTP {status}",
            key.key_id()
        ),
    );
    let seen = pushes_to(world, &alfred);
    let private = NewMessage::new("Your salary review", "hr@contoso.com").with_from_name("HR");
    world
        .sim
        .deliver_message(ALFRED, &private)
        .map_err(|e| e.to_string())?;
    let push = next_push(world, &alfred, seen).await?;
    let sealed = push.payload["sealed"]
        .as_str()
        .ok_or("the alert to Alfred is not sealed")?;
    say(
        out,
        format!(
            "   mail to Alfred -> APNs carries \"{}\" and sealed {}… ({} bytes; mutable-content {})",
            push.payload["aps"]["alert"]["body"]
                .as_str()
                .unwrap_or_default(),
            &sealed[..24.min(sealed.len())],
            sealed.len(),
            push.payload["aps"]["mutable-content"],
        ),
    );
    let opened: Value = secret
        .open(sealed, b"")
        .map_err(|e| format!("the device cannot open its alert: {e}"))
        .and_then(|plain| serde_json::from_slice(&plain).map_err(|e| e.to_string()))?;
    say(
        out,
        format!(
            "   Alfred's device opens it: from {} <{}>, \"{}\"",
            opened["from_name"].as_str().unwrap_or_default(),
            opened["from_address"].as_str().unwrap_or_default(),
            opened["subject"].as_str().unwrap_or_default(),
        ),
    );
    let stranger = DeviceSecret::generate().open(sealed, b"").is_err();
    say(
        out,
        format!(
            "   another key opens it: {}",
            if stranger { "no" } else { "YES (wrong)" }
        ),
    );
    if !stranger {
        return Err("a sealed alert opened with another key".into());
    }
    Ok(())
}
