//! A TCP proxy on loopback that delays every byte by a fixed time in each direction, to put a
//! peer "far away" (as an authorization server 150 ms from its resource server). Memory is
//! bounded: each direction of a connection holds at most [`MAX_CHUNKS_IN_FLIGHT`] reads of
//! 16 KiB. Stopped, with every connection it carries, when dropped.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Reads held per direction before the proxy stops reading (and TCP pushes back).
const MAX_CHUNKS_IN_FLIGHT: usize = 256;

/// The running proxy: connect to `addr` to reach the target `delay` away each way.
pub struct DelayProxy {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        // The accept task owns every connection's tasks (a JoinSet): they end with it.
        self.accept.abort();
    }
}

/// A proxy on `127.0.0.1:0` to `target`, delaying each direction by `delay`.
pub async fn delay_proxy(target: SocketAddr, delay: Duration) -> DelayProxy {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the proxy");
    let addr = listener.local_addr().expect("proxy address");
    let accept = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((inbound, _)) = listener.accept().await {
            connections.spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::join!(
                    pump(in_read, out_write, delay),
                    pump(out_read, in_write, delay)
                );
            });
            // Reap finished connections so the set does not grow with every one ever made.
            while connections.try_join_next().is_some() {}
        }
    });
    DelayProxy { addr, accept }
}

/// Copies `from` to `to`, each read written `delay` after it arrived; an end of stream is
/// passed on (after the data before it) as a shutdown of the write side.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (chunks, mut delayed) = mpsc::channel::<(Instant, Bytes)>(MAX_CHUNKS_IN_FLIGHT);
    let reader = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(&buffer[..n]);
                    if chunks.send((Instant::now(), chunk)).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((arrived, chunk)) = delayed.recv().await {
            tokio::time::sleep_until(arrived + delay).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
