//! The store: tenants, devices, mailboxes and watermarks, encrypted tokens, trusted certificates, the push outbox.
