//! The egress proxy of a run. The command lives in a network namespace of
//! its own with nothing but loopback; the one way out is a listening
//! socket that the run's init binds there and hands to the supervisor,
//! which accepts on it from the host's network. Every connection asked for
//! (HTTP `CONNECT`, a plain `http://` request, SOCKS5) is judged by host and
//! port with the policies' net rules, then made from here:
//!
//! - a host is resolved once, here, and the proxy connects to the very
//!   addresses it checked, so a name cannot change its answer in between
//!   (DNS rebinding);
//! - loopback, private, link-local and metadata addresses are reached only
//!   when an allow rule names that host or address itself, never through a
//!   wildcard;
//! - a TLS client's ClientHello must name the host it asked to reach (no
//!   interception: the record is read, checked and passed on as it is).

mod address;

pub(crate) use address::internal_host;
mod http;
mod socks;
mod tls;

use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs as _};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use vtpolicy_engine::Effect;

/// The port the proxy listens on inside the run's network namespace, where
/// nothing else is bound.
pub const PROXY_PORT: u16 = 3128;

/// How the policies, and the user for a `prompt`, judge a host and port.
pub type EgressJudge = Arc<dyn Fn(&str, u16) -> Verdict + Send + Sync>;

/// A judged host and port.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// What the policies decided.
    pub effect: Effect,
    /// Whether the connection may be made: allowed, or a prompt approved.
    pub allowed: bool,
    pub rules: Vec<String>,
    /// Why, in one line, for the client and the events.
    pub reason: String,
    /// A deciding allow rule names this host or address itself.
    pub explicit: bool,
}

/// One connection the proxy was asked for, for the `connection` event.
#[derive(Debug, Clone)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    /// `connect`, `http` or `socks5`.
    pub protocol: &'static str,
    pub effect: Effect,
    pub allowed: bool,
    pub rules: Vec<String>,
    /// The address connected to.
    pub address: Option<String>,
    /// Why the connection was refused, when it was.
    pub refused: Option<String>,
}

/// Where a client asked to go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
}

/// How long a client may take to say where it goes, and a host to answer.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts on `listener` until the process ends, one thread per client.
pub(crate) fn serve(listener: OwnedFd, judge: EgressJudge, events: Sender<Connection>) -> io::Result<()> {
    let listener = TcpListener::from(listener);
    std::thread::Builder::new().name("vtpolicy-egress".into()).spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let (judge, events) = (Arc::clone(&judge), events.clone());
            let _ = std::thread::Builder::new().name("vtpolicy-egress-client".into()).spawn(move || {
                let _ = handle(client, &judge, &events);
            });
        }
    })?;
    Ok(())
}

fn handle(mut client: TcpStream, judge: &EgressJudge, events: &Sender<Connection>) -> io::Result<()> {
    client.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 {
        return Ok(());
    }
    if first[0] == 5 {
        let Some(target) = socks::handshake(&mut client)? else { return Ok(()) };
        return match open(&target, "socks5", judge) {
            Ok(upstream) => {
                socks::reply(&mut client, socks::SUCCEEDED)?;
                tunnel(client, upstream, &target, Vec::new(), events)
            }
            Err(refusal) => {
                let code = if refusal.judged { socks::NOT_ALLOWED } else { socks::HOST_UNREACHABLE };
                socks::reply(&mut client, code)?;
                let _ = events.send(*refusal.connection);
                Ok(())
            }
        };
    }
    match http::read(&mut client)? {
        http::Ask::Refuse(status, message) => http::answer(&mut client, status, &format!("vtpolicy: {message}")),
        http::Ask::Tunnel(target, rest) => match open(&target, "connect", judge) {
            Ok(upstream) => {
                http::answer(&mut client, 200, "")?;
                tunnel(client, upstream, &target, rest, events)
            }
            Err(refusal) => refuse_http(client, refusal, events),
        },
        http::Ask::Forward { target, head, rest } => match open(&target, "http", judge) {
            Ok((connection, mut upstream)) => {
                let _ = events.send(connection);
                upstream.write_all(&head)?;
                upstream.write_all(&rest)?;
                client.set_read_timeout(None)?;
                relay(client, upstream)
            }
            Err(refusal) => refuse_http(client, refusal, events),
        },
    }
}

fn refuse_http(mut client: TcpStream, refusal: Refusal, events: &Sender<Connection>) -> io::Result<()> {
    let status = if refusal.judged { 403 } else { 502 };
    let message = refusal.connection.refused.clone().unwrap_or_default();
    let _ = events.send(*refusal.connection);
    http::answer(&mut client, status, &format!("vtpolicy: {message}"))
}

/// A tunnel (`CONNECT`, SOCKS5): the server's bytes flow to the client at
/// once, for protocols where the server speaks first; the client's flow
/// only after its first record passed the TLS check, however long the
/// client takes to send it. The event is sent once that is decided.
fn tunnel(
    client: TcpStream,
    (mut connection, upstream): (Connection, TcpStream),
    target: &Target,
    buffered: Vec<u8>,
    events: &Sender<Connection>,
) -> io::Result<()> {
    client.set_read_timeout(None)?;
    let (mut from_upstream, mut to_client) = (upstream.try_clone()?, client.try_clone()?);
    let inbound = std::thread::Builder::new().name("vtpolicy-egress-in".into()).spawn(move || {
        let _ = io::copy(&mut from_upstream, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    })?;
    let (mut client, mut upstream) = (client, upstream);
    match check_tls(&mut client, target, buffered) {
        Ok(first) => {
            let _ = events.send(connection);
            if upstream.write_all(&first).is_ok() {
                let _ = io::copy(&mut client, &mut upstream);
            }
            let _ = upstream.shutdown(Shutdown::Write);
        }
        Err(message) => {
            connection.allowed = false;
            connection.refused = Some(message);
            let _ = events.send(connection);
            let _ = upstream.shutdown(Shutdown::Both);
            let _ = client.shutdown(Shutdown::Both);
        }
    }
    let _ = inbound.join();
    Ok(())
}

/// A connection that was not made.
struct Refusal {
    connection: Box<Connection>,
    /// Refused by a rule or its consequences, not by the network.
    judged: bool,
}

/// Judges `target`, resolves it and connects to an address it may reach.
fn open(target: &Target, protocol: &'static str, judge: &EgressJudge) -> Result<(Connection, TcpStream), Refusal> {
    let verdict = judge(&target.host, target.port);
    let mut connection = Connection {
        host: target.host.clone(),
        port: target.port,
        protocol,
        effect: verdict.effect,
        allowed: verdict.allowed,
        rules: verdict.rules.clone(),
        address: None,
        refused: None,
    };
    let refuse = |mut connection: Connection, message: String, judged: bool| {
        connection.allowed = false;
        connection.refused = Some(message);
        Refusal { connection: Box::new(connection), judged }
    };
    if !verdict.allowed {
        let message = format!("connection to {}:{} refused: {}", target.host, target.port, verdict.reason);
        return Err(refuse(connection, message, true));
    }
    let addresses: Vec<SocketAddr> = match resolve(target) {
        Ok(addresses) => addresses,
        Err(error) => {
            let message = format!("cannot resolve {}: {error}", target.host);
            return Err(refuse(connection, message, false));
        }
    };
    let mut reachable = Vec::new();
    let mut internal = None;
    for address in addresses {
        match address::internal(address.ip()) {
            Some(why) if !verdict.explicit => internal = Some((address.ip(), why)),
            _ => reachable.push(address),
        }
    }
    if reachable.is_empty() {
        let message = match internal {
            Some((ip, why)) if target.host.trim_start_matches('[').trim_end_matches(']') == ip.to_string() => {
                format!("{ip} is {why}, which only a rule naming `{ip}` itself may reach")
            }
            Some((ip, why)) => format!(
                "{} resolves to {ip}, {why}, which only a rule naming `{}` or `{ip}` itself may reach",
                target.host, target.host
            ),
            None => format!("{} resolves to no address", target.host),
        };
        return Err(refuse(connection, message, internal.is_some()));
    }
    let mut last_error = None;
    for address in reachable {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => {
                connection.address = Some(address.to_string());
                return Ok((connection, stream));
            }
            Err(error) => last_error = Some(error),
        }
    }
    let error = last_error.map_or_else(|| "no address".to_owned(), |e| e.to_string());
    Err(refuse(connection, format!("cannot connect to {}:{}: {error}", target.host, target.port), false))
}

/// The target's addresses: an address literal as it is, a name as this
/// machine resolves it.
fn resolve(target: &Target) -> io::Result<Vec<SocketAddr>> {
    let host = target.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    // Numeric spellings (`2130706433`, `0x7f000001`) are addresses too:
    // the judge read them as such, and so does the resolver.
    let normalized = vtpolicy_engine::normalize_host(host);
    if let Ok(ip) = normalized.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    Ok((host, target.port).to_socket_addrs()?.collect())
}

/// Reads the client's first bytes (after `buffered`, those it sent with
/// its request) and, when they start a TLS record, the whole record, and
/// checks that its ClientHello names the target host. Returns the bytes
/// read, to be passed on.
fn check_tls(client: &mut TcpStream, target: &Target, mut buffered: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut fill = |buffered: &mut Vec<u8>, at_least: usize| -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        while buffered.len() < at_least {
            match client.read(&mut chunk) {
                Ok(0) => return Err("the TLS record ended early".to_owned()),
                Ok(n) => buffered.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(error) => return Err(format!("the client's bytes could not be read: {error}")),
            }
        }
        Ok(())
    };
    if buffered.is_empty() {
        match fill(&mut buffered, 1) {
            // Closed before it sent anything.
            Err(_) if buffered.is_empty() => return Ok(Vec::new()),
            result => result?,
        }
    }
    // Not TLS: passed on as it is, to the host it was allowed to.
    if buffered.first() != Some(&tls::HANDSHAKE) {
        return Ok(buffered);
    }
    fill(&mut buffered, tls::HEADER)?;
    let length = tls::record_length(&buffered).ok_or("not a TLS handshake record")?;
    fill(&mut buffered, length)?;
    let record = buffered.get(..length).unwrap_or_default();
    let host = vtpolicy_engine::normalize_host(&target.host);
    let literal = host.parse::<IpAddr>().is_ok();
    match tls::server_name(record) {
        tls::ServerName::Named(name) if vtpolicy_engine::normalize_host(&name) == host => Ok(buffered),
        tls::ServerName::Named(name) => {
            Err(format!("the TLS client asked for `{name}` on a connection allowed to `{}`", target.host))
        }
        // Clients send no server name for an address.
        tls::ServerName::Unnamed if literal => Ok(buffered),
        tls::ServerName::Unnamed => Err(format!("the TLS client named no server on a connection to `{}`", target.host)),
        tls::ServerName::Unreadable => Err("the TLS ClientHello could not be read".to_owned()),
    }
}

/// Copies both ways until each side is done.
fn relay(client: TcpStream, upstream: TcpStream) -> io::Result<()> {
    let (mut client_read, mut upstream_write) = (client.try_clone()?, upstream.try_clone()?);
    let outbound = std::thread::Builder::new().name("vtpolicy-egress-out".into()).spawn(move || {
        let _ = io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    })?;
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = outbound.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{EgressJudge, Target, Verdict, open};
    use vtpolicy_engine::Effect;

    fn judge(explicit: bool) -> EgressJudge {
        std::sync::Arc::new(move |_: &str, _: u16| Verdict {
            effect: Effect::Allow,
            allowed: true,
            rules: vec!["r".to_owned()],
            reason: String::new(),
            explicit,
        })
    }

    /// The check after resolution: a name that resolves to loopback is
    /// refused even when the judge allowed it, unless a rule names it.
    #[test]
    fn a_name_that_resolves_to_an_internal_address_needs_a_rule_naming_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let target = Target { host: "localhost".to_owned(), port };
        let refused = open(&target, "connect", &judge(false)).expect_err("refused");
        let message = refused.connection.refused.unwrap_or_default();
        assert!(message.starts_with("localhost resolves to 127.0.0.1, a loopback address"), "{message}");
        assert!(refused.judged);
        let (connection, _stream) = open(&target, "connect", &judge(true)).ok().expect("connected");
        assert_eq!(connection.address, Some(format!("127.0.0.1:{port}")));
    }

    /// Through a tunnel, a server that speaks first is heard before the
    /// client sends anything; a client that waits before its ClientHello
    /// is checked all the same, and cut off when it names another host.
    #[test]
    fn tunnels_carry_server_first_protocols_and_check_late_client_hellos() {
        use std::io::{Read as _, Write as _};
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = server.local_addr().expect("address").port();
        std::thread::spawn(move || {
            for stream in server.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let _ = stream.write_all(b"220 ready\r\n");
                    let mut sink = Vec::new();
                    let _ = stream.read_to_end(&mut sink);
                });
            }
        });
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy_port = proxy.local_addr().expect("address").port();
        let (sender, events) = std::sync::mpsc::channel();
        super::serve(proxy.into(), judge(true), sender).expect("serve");
        let connect = || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", proxy_port)).expect("connect");
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
            stream.write_all(format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n").as_bytes()).expect("write");
            let mut reply = [0u8; 39];
            stream.read_exact(&mut reply).expect("the 200");
            assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&reply));
            stream
        };
        let mut banner = [0u8; 11];
        let mut first = connect();
        first.read_exact(&mut banner).expect("the banner before any client byte");
        assert_eq!(&banner, b"220 ready\r\n");
        let mut late = connect();
        late.read_exact(&mut banner).expect("the banner");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        late.write_all(&super::tls::tests::client_hello(Some("other.example"))).expect("write");
        let mut rest = Vec::new();
        let _ = late.read_to_end(&mut rest);
        assert!(rest.is_empty(), "the tunnel stayed open");
        let refused = (0..2)
            .map(|_| events.recv_timeout(std::time::Duration::from_secs(10)).expect("an event"))
            .find(|c| c.refused.is_some())
            .expect("a refusal");
        assert!(refused.refused.unwrap_or_default().contains("asked for `other.example`"));
        // A ClientHello sent with the CONNECT, before the answer, is
        // checked as well.
        let mut pipelined = std::net::TcpStream::connect(("127.0.0.1", proxy_port)).expect("connect");
        pipelined.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
        let mut request = format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n").into_bytes();
        request.extend(super::tls::tests::client_hello(Some("other.example")));
        pipelined.write_all(&request).expect("write");
        let mut answer = Vec::new();
        let _ = pipelined.read_to_end(&mut answer);
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
        let refused = events.recv_timeout(std::time::Duration::from_secs(10)).expect("an event");
        assert!(refused.refused.unwrap_or_default().contains("asked for `other.example`"));
        drop(first);
    }
}
