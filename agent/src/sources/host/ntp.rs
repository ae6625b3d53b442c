//! The host clock's offset from an NTP server, by one SNTP (RFC 4330) query.

use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// `[ntp]`: the server the host's clock is compared with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NtpConfig {
    /// `host:port`, e.g. `169.254.169.123:123` (Amazon Time Sync).
    pub server: String,
}

/// Seconds between 1900 (NTP's epoch) and 1970.
const NTP_EPOCH_OFFSET: f64 = 2_208_988_800.0;

fn now_ntp() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
        + NTP_EPOCH_OFFSET
}

fn timestamp(bytes: &[u8]) -> f64 {
    let seconds = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    let fraction = u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"));
    f64::from(seconds) + f64::from(fraction) / 4_294_967_296.0
}

/// The local clock's offset in milliseconds (positive: the server is ahead).
pub fn clock_offset(server: &str, timeout: Duration) -> std::io::Result<f64> {
    let socket = UdpSocket::bind(("0.0.0.0", 0))?;
    socket.set_read_timeout(Some(timeout))?;
    socket.connect(server)?;
    let mut request = [0u8; 48];
    request[0] = 0b00_100_011; // no leap warning, version 4, client
    let t1 = now_ntp();
    let seconds = t1.trunc() as u32;
    let fraction = (t1.fract() * 4_294_967_296.0) as u32;
    request[40..44].copy_from_slice(&seconds.to_be_bytes());
    request[44..48].copy_from_slice(&fraction.to_be_bytes());
    socket.send(&request)?;
    let mut answer = [0u8; 48];
    let read = socket.recv(&mut answer)?;
    let t4 = now_ntp();
    if read < 48 || answer[0] & 0b111 != 4 || answer[24..32] != request[40..48] {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an NTP server answer to our query",
        ));
    }
    let t2 = timestamp(&answer[32..40]);
    let t3 = timestamp(&answer[40..48]);
    Ok(((t2 - t1) + (t3 - t4)) / 2.0 * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on loopback whose clock runs 2.5 s ahead of ours.
    #[test]
    fn measures_the_offset_of_a_server_ahead_of_us() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap().to_string();
        let responder = std::thread::spawn(move || {
            let mut query = [0u8; 48];
            let (_, peer) = server.recv_from(&mut query).unwrap();
            let mut answer = [0u8; 48];
            answer[0] = 0b00_100_100; // version 4, server
            answer[24..32].copy_from_slice(&query[40..48]);
            let ahead = now_ntp() + 2.5;
            let mut stamp = [0u8; 8];
            stamp[..4].copy_from_slice(&(ahead.trunc() as u32).to_be_bytes());
            stamp[4..].copy_from_slice(&((ahead.fract() * 4_294_967_296.0) as u32).to_be_bytes());
            answer[32..40].copy_from_slice(&stamp);
            answer[40..48].copy_from_slice(&stamp);
            server.send_to(&answer, peer).unwrap();
        });
        let offset = clock_offset(&address, Duration::from_secs(5)).unwrap();
        responder.join().unwrap();
        assert!((offset - 2500.0).abs() < 100.0, "offset {offset} ms");
    }
}
