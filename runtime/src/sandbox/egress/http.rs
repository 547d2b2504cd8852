//! The HTTP side of the proxy: `CONNECT host:port` tunnels and plain
//! `http://` requests in absolute form, read with `httparse`.

use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;

use super::Target;

/// A request head may be at most this long.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// What the client asked for.
pub(super) enum Ask {
    /// `CONNECT host:port`, and what the client sent after the head
    /// without waiting for the answer.
    Tunnel(Target, Vec<u8>),
    /// A plain request to `target`: the head to send it, in origin form,
    /// and the body bytes already read.
    Forward { target: Target, head: Vec<u8>, rest: Vec<u8> },
    /// Not a request the proxy serves; the status and why.
    Refuse(u16, String),
}

/// Reads a request head and says what it asks for.
pub(super) fn read(stream: &mut TcpStream) -> io::Result<Ask> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(length)) => {
                let rest = buffer.get(length..).unwrap_or_default().to_vec();
                return Ok(ask(&request, rest));
            }
            Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => return Ok(Ask::Refuse(431, "the request head is too long".into())),
            Err(error) => return Ok(Ask::Refuse(400, format!("not an HTTP request: {error}"))),
        }
    }
}

fn ask(request: &httparse::Request<'_, '_>, rest: Vec<u8>) -> Ask {
    let (Some(method), Some(path)) = (request.method, request.path) else {
        return Ask::Refuse(400, "an incomplete request line".into());
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        return match authority(path, None) {
            Some(target) => Ask::Tunnel(target, rest),
            None => Ask::Refuse(400, format!("`CONNECT {path}` names no host and port")),
        };
    }
    let Some(after) = strip_prefix_ignore_case(path, "http://") else {
        return Ask::Refuse(400, format!("`{method} {path}`: only `http://` URLs in absolute form and CONNECT pass"));
    };
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority_text, origin) = after.split_at(end);
    let Some(target) = authority(authority_text, Some(80)) else {
        return Ask::Refuse(400, format!("`{path}` names no host"));
    };
    let origin = match origin {
        "" => "/".to_owned(),
        o if o.starts_with('?') => format!("/{o}"),
        o => o.to_owned(),
    };
    let mut head = format!("{method} {origin} HTTP/1.1\r\n").into_bytes();
    for header in request.headers.iter() {
        let name = header.name;
        // Hop-by-hop headers stay here; the proxy closes after one exchange.
        if ["proxy-connection", "proxy-authorization", "connection", "keep-alive"]
            .iter()
            .any(|hop| name.eq_ignore_ascii_case(hop))
        {
            continue;
        }
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(header.value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    Ask::Forward { target, head, rest }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| text.get(prefix.len()..)).flatten()
}

/// `host:port`, `[v6]:port`, or without a port `default_port`; user
/// information before `@` is dropped.
fn authority(text: &str, default_port: Option<u16>) -> Option<Target> {
    let text = text.rsplit_once('@').map_or(text, |(_, host)| host);
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port?,
    };
    if host.is_empty() || host.contains(['/', '%', ' ']) {
        return None;
    }
    Some(Target { host: host.to_owned(), port })
}

/// An HTTP answer that ends the connection.
pub(super) fn answer(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "Connection established",
        400 => "Bad Request",
        403 => "Forbidden",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        _ => "Error",
    };
    if status == 200 {
        return stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    }
    let body = format!("{body}\n");
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn authorities_name_a_host_and_a_port() {
        let of = |text: &str, default: Option<u16>| authority(text, default).map(|t| (t.host, t.port));
        assert_eq!(of("example.org:443", None), Some(("example.org".into(), 443)));
        assert_eq!(of("[::1]:8000", None), Some(("::1".into(), 8000)));
        assert_eq!(of("user:pw@example.org", Some(80)), Some(("example.org".into(), 80)));
        assert_eq!(of("example.org", None), None);
        assert_eq!(of(":443", None), None);
        assert_eq!(of("example.org:99999", None), None);
        assert_eq!(of("exa%6dple.org:80", None), None);
    }
}
