//! The consumer's end of a watcher: [`Events`].

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::event::WatchEvent;

/// A watcher's events, in order per mailbox.
///
/// The channel behind it is bounded (its capacity is a setting of the watcher): a consumer
/// that falls behind makes the watcher wait, and nothing is dropped.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<WatchEvent>,
}

impl Events {
    /// Events read from `rx`: what a [`MailboxWatcher`](crate::MailboxWatcher) hands its
    /// consumer, or a consumer's merge of several watchers into one stream.
    pub fn from_receiver(rx: mpsc::Receiver<WatchEvent>) -> Self {
        Self { rx }
    }

    /// The next event; `None` once the watcher has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting, without waiting (to take events in batches).
    pub fn try_recv(&mut self) -> Option<WatchEvent> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for Events {
    type Item = WatchEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchEvent>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn lost(mailbox: &str) -> WatchEvent {
        WatchEvent::Lost {
            mailbox: Arc::from(mailbox),
            reason: "test".into(),
        }
    }

    #[tokio::test]
    async fn events_come_in_order_and_end_when_the_sender_goes() {
        let (tx, rx) = mpsc::channel(4);
        let mut events = Events::from_receiver(rx);
        assert_eq!(events.try_recv(), None, "nothing sent yet");
        tx.send(lost("a@contoso.com")).await.unwrap();
        tx.send(lost("b@contoso.com")).await.unwrap();
        assert_eq!(events.try_recv().unwrap().mailbox(), "a@contoso.com");
        assert_eq!(events.recv().await.unwrap().mailbox(), "b@contoso.com");
        drop(tx);
        assert_eq!(events.recv().await, None);
    }
}
