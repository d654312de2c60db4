//! The `socket` sink: TCP, one JSON event per line. Delivered means written to the socket;
//! TCP says nothing of what the peer did with it, so this sink is at most once past that
//! point. The connection is made on first use and again after an error.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::super::event::Event;

pub struct SocketSink {
    address: SocketAddr,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
}

impl SocketSink {
    pub fn new(address: SocketAddr) -> SocketSink {
        SocketSink {
            address,
            conn: None,
            buf: Vec::new(),
        }
    }

    pub async fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        self.buf.clear();
        for e in events {
            self.buf.extend_from_slice(&e.data);
            self.buf.push(b'\n');
        }
        if self.conn.is_none() {
            self.conn = Some(super::connect(self.address).await?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        if let Err(e) = conn.write_all(&self.buf).await {
            self.conn = None;
            return Err(format!("write to {}: {e}", self.address));
        }
        Ok(())
    }
}
