//! Reading a request head before a connection takes a serve slot, and handing what was read
//! on to hyper.
//!
//! [`read_head`] reads until the blank line that ends the head (or the header limit, or the
//! end of input); [`Prefixed`] then gives hyper those bytes first and the rest of the stream
//! after, so hyper parses the request exactly as if it had read it itself (its own limits,
//! errors and timeouts apply unchanged from there on).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What [`read_head`] found.
pub(super) enum Head {
    /// The head is complete (or past the header limit, for hyper to refuse with 431): the
    /// bytes read so far, which may include the start of a body or a pipelined request.
    Ready(Vec<u8>),
    /// The client closed the connection before a complete head.
    Closed,
}

/// Reads from `io` until the bytes read contain the end of a request head (`\r\n\r\n`),
/// exceed `max_header_bytes`, or the client closes. Leading empty lines (which HTTP/1.1
/// allows before a request line) count against the limit like anything else.
pub(super) async fn read_head<Io: AsyncRead + Unpin>(
    io: &mut Io,
    max_header_bytes: usize,
) -> io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        // Where the terminator may start: it may straddle the previous read.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if buf[from..].windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > max_header_bytes {
            return Ok(Head::Ready(buf));
        }
    }
}

/// A stream whose first bytes are `prefix` (already read from it), then the stream itself.
pub(super) struct Prefixed<Io> {
    prefix: Vec<u8>,
    at: usize,
    io: Io,
}

impl<Io> Prefixed<Io> {
    pub(super) fn new(prefix: Vec<u8>, io: Io) -> Self {
        Self { prefix, at: 0, io }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Prefixed<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = (this.prefix.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                // Given back: a keep-alive connection holds no copy of its first request.
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Prefixed<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
    use tokio::io::AsyncWriteExt;

    #[test]
    fn a_head_split_across_reads_is_found_and_given_back_whole() {
        runtime().block_on(async {
            let (mut client, mut server) = tokio::io::duplex(64);
            let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
            let writer = tokio::spawn(async move {
                for part in request.chunks(5) {
                    client.write_all(part).await.unwrap();
                    tokio::task::yield_now().await;
                }
                client
            });
            let Head::Ready(head) = read_head(&mut server, 1024).await.unwrap() else {
                panic!("closed")
            };
            let _client = writer.await.unwrap();
            let mut all = Prefixed::new(head, server);
            let mut got = vec![0u8; request.len()];
            all.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, request);
        });
    }

    #[test]
    fn an_oversized_head_is_handed_on_and_a_closed_one_reported() {
        runtime().block_on(async {
            let (mut client, mut server) = tokio::io::duplex(4096);
            client.write_all(&[b'a'; 100]).await.unwrap();
            assert!(matches!(read_head(&mut server, 64).await.unwrap(), Head::Ready(h) if h.len() == 100));
            drop(client);
            assert!(matches!(read_head(&mut server, 64).await.unwrap(), Head::Closed));
        });
    }
}
