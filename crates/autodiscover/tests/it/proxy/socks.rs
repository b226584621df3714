//! A minimal SOCKS5 proxy (RFC 1928): no authentication, `CONNECT` only, to a domain name,
//! an IPv4 or an IPv6 address. It records every target.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::{ProxiedRequest, ProxyBuilder, Shared, serve};

/// A running SOCKS5 proxy. Stops when dropped.
pub(crate) struct Socks5Proxy {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Socks5Proxy {
    /// A proxy resolving names through the system.
    pub(crate) async fn start() -> Self {
        ProxyBuilder::default().start_socks5().await
    }

    pub(super) async fn start_with(options: ProxyBuilder) -> Self {
        let shared = Arc::new(Shared::new(&options));
        let (addr, task) = serve(shared.clone(), |stream, shared| async move {
            let _ = socks_connection(stream, &shared).await;
        })
        .await;
        Self { addr, shared, task }
    }

    /// `socks5h://127.0.0.1:<port>`: the client hands names to the proxy to resolve.
    pub(crate) fn url(&self) -> String {
        format!("socks5h://{}", self.addr)
    }

    /// Every request (method `SOCKS5`), in arrival order.
    pub(crate) fn requests(&self) -> Vec<ProxiedRequest> {
        self.shared.requests()
    }

    /// The `host:port` of every `CONNECT`, in arrival order.
    pub(crate) fn targets(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.target).collect()
    }
}

impl Drop for Socks5Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// SOCKS5 reply codes (RFC 1928 §6).
const SUCCEEDED: u8 = 0;
const HOST_UNREACHABLE: u8 = 4;
const COMMAND_NOT_SUPPORTED: u8 = 7;
const ADDRESS_NOT_SUPPORTED: u8 = 8;

async fn socks_connection(mut client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    // Greeting: VER NMETHODS METHODS...
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    if greeting[0] != 5 || !methods.contains(&0) {
        return client.write_all(&[5, 0xFF]).await;
    }
    client.write_all(&[5, 0]).await?;

    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let len = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            format!("[{}]", Ipv6Addr::from(ip))
        }
        _ => return answer(&mut client, ADDRESS_NOT_SUPPORTED).await,
    };
    let port = client.read_u16().await?;
    if request[1] != 1 {
        return answer(&mut client, COMMAND_NOT_SUPPORTED).await;
    }
    shared.record("SOCKS5", format!("{host}:{port}"), true);
    let Ok(mut upstream) = shared.connect(&host, port).await else {
        return answer(&mut client, HOST_UNREACHABLE).await;
    };
    answer(&mut client, SUCCEEDED).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// A reply with the bound address left as 0.0.0.0:0 (clients ignore it).
async fn answer(client: &mut TcpStream, code: u8) -> std::io::Result<()> {
    client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}
