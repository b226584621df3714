//! Follow-Me end to end: two devices of one user, another user, bounds.

use reqwest::{Method, Response};

use super::*;

const KEY: &str = "launcher";

impl Service {
    /// A Follow-Me request as `caller` on `user`'s document `key` (`None`: the list).
    async fn follow_me(
        &self,
        method: Method,
        caller: &str,
        user: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Response {
        let token = self.world.user_token(caller).expect("token");
        let mut url = format!("{}/users/{user}/follow-me", self.base);
        if let Some(key) = key {
            url = format!("{url}/{key}");
        }
        let mut request = self.http.request(method, url).bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        request.send().await.expect("the API answers")
    }

    async fn put(&self, caller: &str, headers: &[(&str, &str)], body: &str) -> Response {
        self.follow_me(
            Method::PUT,
            caller,
            MARA,
            Some(KEY),
            headers,
            Some(body.to_owned()),
        )
        .await
    }

    async fn read(&self, caller: &str) -> Response {
        self.follow_me(Method::GET, caller, MARA, Some(KEY), &[], None)
            .await
    }
}

fn etag(response: &Response) -> String {
    response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned()
}

#[tokio::test]
async fn a_document_written_on_one_device_is_read_and_updated_on_another() {
    let service = start(|_| {}).await;
    let phone = r#"{"apps":["mail","calendar"],"theme":"dark"}"#;
    let created = service.put(MARA, &[("If-None-Match", "*")], phone).await;
    assert_eq!(created.status(), 201);
    assert_eq!(etag(&created), "\"1\"");
    // The tablet, the same user, reads what the phone wrote.
    let read = service.read(MARA).await;
    assert_eq!(read.status(), 200);
    let version = etag(&read);
    assert_eq!(read.text().await.expect("body"), phone);
    let tablet = r#"{"apps":["mail","calendar","notes"],"theme":"dark"}"#;
    let updated = service.put(MARA, &[("If-Match", &version)], tablet).await;
    assert_eq!(updated.status(), 200);
    assert_eq!(etag(&updated), "\"2\"");
    let read = service.read(MARA).await;
    assert_eq!(read.text().await.expect("body"), tablet);
    let unchanged = service
        .follow_me(
            Method::GET,
            MARA,
            MARA,
            Some(KEY),
            &[("If-None-Match", "\"2\"")],
            None,
        )
        .await;
    assert_eq!(unchanged.status(), 304);
    let list = service
        .follow_me(Method::GET, MARA, MARA, None, &[], None)
        .await;
    let list: Value = list.json().await.expect("JSON");
    assert_eq!(
        list["documents"],
        serde_json::json!([{"key": KEY, "version": 2, "etag": "\"2\""}])
    );
    // The document outlives the service: it is in the store.
    let stored = service
        .running
        .service
        .store
        .follow_me(
            &bems::store::model::TenantId::new(TENANT).expect("id"),
            MARA,
            KEY,
        )
        .await
        .expect("store");
    assert_eq!(stored.map(|d| d.version), Some(2));
    service.running.stop().await;
}

#[tokio::test]
async fn two_devices_cannot_overwrite_each_other_silently() {
    let service = start(|_| {}).await;
    service.put(MARA, &[], r#"{"v":1}"#).await;
    let read = service.read(MARA).await;
    let seen = etag(&read);
    // Both devices read version 1; the phone writes first.
    let phone = service
        .put(MARA, &[("If-Match", &seen)], r#"{"v":"phone"}"#)
        .await;
    assert_eq!(phone.status(), 200);
    let tablet = service
        .put(MARA, &[("If-Match", &seen)], r#"{"v":"tablet"}"#)
        .await;
    assert_eq!(tablet.status(), 412);
    // Without a version, an existing document is not replaced either.
    let blind = service.put(MARA, &[], r#"{"v":"blind"}"#).await;
    assert_eq!(blind.status(), 428);
    let create = service
        .put(MARA, &[("If-None-Match", "*")], r#"{"v":"new"}"#)
        .await;
    assert_eq!(create.status(), 412);
    let weak = service
        .put(MARA, &[("If-Match", "W/\"2\"")], r#"{"v":"weak"}"#)
        .await;
    assert_eq!(weak.status(), 412);
    let read = service.read(MARA).await;
    assert_eq!(read.text().await.expect("body"), r#"{"v":"phone"}"#);
    // Deleting also names the version.
    let delete = |headers: &'static [(&'static str, &'static str)]| {
        service.follow_me(Method::DELETE, MARA, MARA, Some(KEY), headers, None)
    };
    assert_eq!(delete(&[]).await.status(), 428);
    assert_eq!(delete(&[("If-Match", "\"1\"")]).await.status(), 412);
    assert_eq!(delete(&[("If-Match", "\"2\"")]).await.status(), 204);
    assert_eq!(service.read(MARA).await.status(), 404);
    service.running.stop().await;
}

#[tokio::test]
async fn another_users_documents_are_forbidden() {
    let service = start(|_| {}).await;
    assert_eq!(
        service.put(MARA, &[], r#"{"secret":true}"#).await.status(),
        201
    );
    let as_sadie = |method| {
        service.follow_me(
            method,
            SADIE,
            MARA,
            Some(KEY),
            &[("If-Match", "\"1\"")],
            None,
        )
    };
    assert_eq!(as_sadie(Method::GET).await.status(), 403);
    assert_eq!(as_sadie(Method::DELETE).await.status(), 403);
    let write = service
        .follow_me(
            Method::PUT,
            SADIE,
            MARA,
            Some(KEY),
            &[("If-Match", "\"1\"")],
            Some("{}".into()),
        )
        .await;
    assert_eq!(write.status(), 403);
    let list = service
        .follow_me(Method::GET, SADIE, MARA, None, &[], None)
        .await;
    assert_eq!(list.status(), 403);
    // Sadie's own space does not hold Mara's document.
    let own = service
        .follow_me(Method::GET, SADIE, SADIE, Some(KEY), &[], None)
        .await;
    assert_eq!(own.status(), 404);
    let anonymous = service
        .http
        .get(format!("{}/users/{MARA}/follow-me/{KEY}", service.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 401);
    let read = service.read(MARA).await;
    assert_eq!(
        (etag(&read), read.text().await.expect("body")),
        ("\"1\"".into(), r#"{"secret":true}"#.into())
    );
    service.running.stop().await;
}

#[tokio::test]
async fn oversized_non_json_and_too_many_documents_are_refused() {
    let service = start(|tenant| {
        tenant.follow_me.max_document_bytes = 1024;
        tenant.follow_me.max_documents = 2;
    })
    .await;
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024));
    assert_eq!(service.put(MARA, &[], &big).await.status(), 413);
    let beyond_any_limit = format!("\"{}\"", "y".repeat(2 << 20));
    assert_eq!(
        service.put(MARA, &[], &beyond_any_limit).await.status(),
        413
    );
    assert_eq!(service.put(MARA, &[], "{not json").await.status(), 400);
    assert_eq!(service.read(MARA).await.status(), 404, "nothing was stored");
    let put = |key: &'static str| {
        service.follow_me(Method::PUT, MARA, MARA, Some(key), &[], Some("{}".into()))
    };
    assert_eq!(put("a").await.status(), 201);
    assert_eq!(put("b").await.status(), 201);
    assert_eq!(put("c").await.status(), 409);
    assert_eq!(put("a:b").await.status(), 400, "keys are names");
    service.running.stop().await;
}

#[tokio::test]
async fn of_many_devices_writing_the_same_version_at_once_exactly_one_wins() {
    let service = start(|_| {}).await;
    service.put(MARA, &[], r#"{"v":0}"#).await;
    let writes = (0..8).map(|device| {
        let body = format!(r#"{{"v":{device}}}"#);
        let service = &service;
        async move {
            let response = service
                .follow_me(
                    Method::PUT,
                    MARA,
                    MARA,
                    Some(KEY),
                    &[("If-Match", "\"1\"")],
                    Some(body.clone()),
                )
                .await;
            (response.status().as_u16(), body)
        }
    });
    let outcomes = futures_util::future::join_all(writes).await;
    let won: Vec<&String> = outcomes
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|(s, _)| *s == 200 || *s == 412),
        "{outcomes:?}"
    );
    let read = service.read(MARA).await;
    assert_eq!(etag(&read), "\"2\"");
    assert_eq!(
        &read.text().await.expect("body"),
        won[0],
        "the winner's document is kept"
    );
    service.running.stop().await;
}
