//! The server name a TLS client asks for, read from its ClientHello with
//! `tls-parser`. Nothing is decrypted or intercepted: the proxy only checks
//! that the name the client will verify is the host it was allowed to.

use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake};

/// The first byte of a TLS handshake record.
pub(super) const HANDSHAKE: u8 = 0x16;
/// A record header: type, version, length.
pub(super) const HEADER: usize = 5;

/// The length of the record that `header` starts.
pub(super) fn record_length(header: &[u8]) -> Option<usize> {
    match header {
        [HANDSHAKE, _, _, high, low, ..] => Some(HEADER + ((usize::from(*high) << 8) | usize::from(*low))),
        _ => None,
    }
}

/// What the first record of a connection says about the server name.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ServerName {
    /// The ClientHello names this server.
    Named(String),
    /// A ClientHello without a server name extension.
    Unnamed,
    /// Not a ClientHello this parser can read.
    Unreadable,
}

/// The server name of the ClientHello in `record` (one whole record).
pub(super) fn server_name(record: &[u8]) -> ServerName {
    let Ok((_, plaintext)) = tls_parser::parse_tls_plaintext(record) else { return ServerName::Unreadable };
    for message in &plaintext.msg {
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = message else { continue };
        let Some(extensions) = hello.ext else { return ServerName::Unnamed };
        let Ok((_, extensions)) = tls_parser::parse_tls_client_hello_extensions(extensions) else {
            return ServerName::Unreadable;
        };
        for extension in extensions {
            if let TlsExtension::SNI(names) = extension {
                // Type 0 is a host name, the only type there is.
                return match names.iter().find(|(kind, _)| kind.0 == 0) {
                    Some((_, name)) => match std::str::from_utf8(name) {
                        Ok(name) => ServerName::Named(name.to_owned()),
                        Err(_) => ServerName::Unreadable,
                    },
                    None => ServerName::Unnamed,
                };
            }
        }
        return ServerName::Unnamed;
    }
    ServerName::Unreadable
}

#[cfg(test)]
pub(super) mod tests {
    use super::{ServerName, record_length, server_name};

    /// A minimal TLS 1.2 ClientHello record naming `name` (or none).
    pub(crate) fn client_hello(name: Option<&str>) -> Vec<u8> {
        let mut extensions = Vec::new();
        if let Some(name) = name {
            let name = name.as_bytes();
            let list_len = name.len() + 3;
            extensions.extend_from_slice(&[0, 0]);
            extensions.extend_from_slice(&u16::try_from(list_len + 2).expect("short").to_be_bytes());
            extensions.extend_from_slice(&u16::try_from(list_len).expect("short").to_be_bytes());
            extensions.push(0);
            extensions.extend_from_slice(&u16::try_from(name.len()).expect("short").to_be_bytes());
            extensions.extend_from_slice(name);
        }
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&u16::try_from(extensions.len()).expect("short").to_be_bytes());
        body.extend_from_slice(&extensions);
        let mut handshake = vec![1];
        handshake.extend_from_slice(&u32::try_from(body.len()).expect("short").to_be_bytes()[1..]);
        handshake.extend_from_slice(&body);
        let mut record = vec![0x16, 0x03, 0x01];
        record.extend_from_slice(&u16::try_from(handshake.len()).expect("short").to_be_bytes());
        record.extend_from_slice(&handshake);
        record
    }

    #[test]
    fn the_server_name_is_read_from_the_client_hello() {
        let record = client_hello(Some("pkg.example.org"));
        assert_eq!(record_length(&record), Some(record.len()));
        assert_eq!(server_name(&record), ServerName::Named("pkg.example.org".to_owned()));
        assert_eq!(server_name(&client_hello(None)), ServerName::Unnamed);
        assert_eq!(server_name(b"GET / HTTP/1.1\r\n\r\n"), ServerName::Unreadable);
        let mut truncated = client_hello(Some("a.example"));
        truncated.truncate(20);
        assert_eq!(server_name(&truncated), ServerName::Unreadable);
    }
}
