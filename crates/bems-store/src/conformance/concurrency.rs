use std::sync::Arc;

use super::new_device;
use crate::Store;

/// Two hundred tasks register at once (a quarter of them the same token): every registration lands,
/// once. Needs a multi-thread runtime.
pub async fn many_tasks_register_at_once(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                // Every fourth task registers the same token for the same mailbox.
                let token = format!("token-{}", if n % 4 == 0 { 0 } else { n });
                let mailbox = if n % 4 == 0 {
                    "user0@contoso.com".to_owned()
                } else {
                    format!("user{}@contoso.com", n % 10)
                };
                store
                    .register_device(&new_device(&mailbox, &token), 100)
                    .await
                    .unwrap()
                    .id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    // 150 distinct tokens, plus the one that 50 tasks shared.
    assert_eq!(ids.len(), 151);
    assert_eq!(store.device_count().await.unwrap(), 151);
}
