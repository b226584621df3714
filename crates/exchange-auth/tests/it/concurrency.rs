//! 200 concurrent requests without a valid token cause exactly one token request.

use std::sync::Arc;

use exchange_auth::*;

use crate::support::{self, APP, APP_SECRET, authority, ews_server, transport};

#[tokio::test]
async fn two_hundred_callers_one_token_request() {
    let sim = support::start().await;
    let mut budgets =
        exchange_sim::scenario::Budgets::for_profile(exchange_sim::scenario::Profile::Exchange2019);
    budgets.max_concurrency = 1000;
    sim.set_budgets(budgets);
    let config = ModernAuth::new(authority(&sim), APP, ews_server(&sim));
    let tokens = OAuthTokens::new(
        config,
        Grant::ClientSecret(SecretString::from(APP_SECRET)),
        &transport(&sim),
    )
    .unwrap();
    let auth = Arc::new(
        BearerAuth::new(
            Arc::new(tokens),
            AuthMethod::ModernClientSecret,
            APP,
            &transport(&sim),
        )
        .unwrap(),
    );
    let before = sim.identity().token_requests();
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let (auth, request) = (auth.clone(), support::get_folder(&sim, true));
            tokio::spawn(async move { auth.send(request).await.map(|r| r.status) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().expect("answered"), 200);
    }
    assert_eq!(
        sim.identity().token_requests() - before,
        1,
        "exactly one token request"
    );
}
