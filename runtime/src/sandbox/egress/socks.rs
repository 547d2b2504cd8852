//! SOCKS5 (RFC 1928), CONNECT only, without authentication: what `curl
//! --socks5-hostname`, `ALL_PROXY=socks5h://…` and most SOCKS clients use.

use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};

use super::Target;

const VERSION: u8 = 5;
const NO_AUTHENTICATION: u8 = 0;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CONNECT: u8 = 1;

/// Reply codes.
pub(super) const SUCCEEDED: u8 = 0;
pub(super) const NOT_ALLOWED: u8 = 2;
pub(super) const HOST_UNREACHABLE: u8 = 4;
const COMMAND_NOT_SUPPORTED: u8 = 7;
const ADDRESS_NOT_SUPPORTED: u8 = 8;

/// Reads the greeting and the request; `Ok(None)` when the request was
/// refused here (an answer was sent).
pub(super) fn handshake(stream: &mut TcpStream) -> io::Result<Option<Target>> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header)?;
    let mut methods = vec![0u8; usize::from(header[1])];
    stream.read_exact(&mut methods)?;
    if header[0] != VERSION || !methods.contains(&NO_AUTHENTICATION) {
        stream.write_all(&[VERSION, NO_ACCEPTABLE_METHOD])?;
        return Ok(None);
    }
    stream.write_all(&[VERSION, NO_AUTHENTICATION])?;
    let mut request = [0u8; 4];
    stream.read_exact(&mut request)?;
    let [version, command, _, kind] = request;
    if version != VERSION {
        return Ok(None);
    }
    let host = match kind {
        1 => {
            let mut octets = [0u8; 4];
            stream.read_exact(&mut octets)?;
            Ipv4Addr::from(octets).to_string()
        }
        3 => {
            let mut length = [0u8; 1];
            stream.read_exact(&mut length)?;
            let mut name = vec![0u8; usize::from(length[0])];
            stream.read_exact(&mut name)?;
            match String::from_utf8(name) {
                Ok(name) => name,
                Err(_) => {
                    reply(stream, ADDRESS_NOT_SUPPORTED)?;
                    return Ok(None);
                }
            }
        }
        4 => {
            let mut octets = [0u8; 16];
            stream.read_exact(&mut octets)?;
            Ipv6Addr::from(octets).to_string()
        }
        _ => {
            reply(stream, ADDRESS_NOT_SUPPORTED)?;
            return Ok(None);
        }
    };
    let mut port = [0u8; 2];
    stream.read_exact(&mut port)?;
    if command != CONNECT {
        // BIND and UDP ASSOCIATE would open the network another way.
        reply(stream, COMMAND_NOT_SUPPORTED)?;
        return Ok(None);
    }
    Ok(Some(Target { host, port: u16::from_be_bytes(port) }))
}

/// The reply to a request; the bound address is not told.
pub(super) fn reply(stream: &mut TcpStream, code: u8) -> io::Result<()> {
    stream.write_all(&[VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0])
}
