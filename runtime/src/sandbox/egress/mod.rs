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
        let (record, upstream) = match open(&target, "socks5", judge) {
            Ok(upstream) => {
                socks::reply(&mut client, socks::SUCCEEDED)?;
                let checked = check_tls(&mut client, &target);
                (checked, upstream)
            }
            Err(refusal) => {
                let code = if refusal.judged { socks::NOT_ALLOWED } else { socks::HOST_UNREACHABLE };
                socks::reply(&mut client, code)?;
                let _ = events.send(*refusal.connection);
                return Ok(());
            }
        };
        return finish(client, upstream, record, events);
    }
    match http::read(&mut client)? {
        http::Ask::Refuse(status, message) => http::answer(&mut client, status, &format!("vtpolicy: {message}")),
        http::Ask::Tunnel(target) => match open(&target, "connect", judge) {
            Ok(upstream) => {
                http::answer(&mut client, 200, "")?;
                let checked = check_tls(&mut client, &target);
                finish(client, upstream, checked, events)
            }
            Err(refusal) => refuse_http(client, refusal, events),
        },
        http::Ask::Forward { target, head, rest } => match open(&target, "http", judge) {
            Ok(mut upstream) => {
                upstream.1.write_all(&head)?;
                finish(client, upstream, Ok(rest), events)
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

/// Relays between the client and the upstream once the first bytes passed
/// the TLS check; the event is sent either way.
fn finish(
    client: TcpStream,
    (mut connection, upstream): (Connection, TcpStream),
    first: Result<Vec<u8>, String>,
    events: &Sender<Connection>,
) -> io::Result<()> {
    let first = match first {
        Ok(first) => first,
        Err(message) => {
            connection.allowed = false;
            connection.refused = Some(message);
            let _ = events.send(connection);
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
    };
    let _ = events.send(connection);
    client.set_read_timeout(None)?;
    relay(client, upstream, &first)
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

/// Reads the client's first TLS record, if it starts one, and checks that
/// its ClientHello names the target host. Returns the bytes read, to be
/// passed on.
fn check_tls(client: &mut TcpStream, target: &Target) -> Result<Vec<u8>, String> {
    let mut header = [0u8; tls::HEADER];
    match client.peek(&mut header) {
        Ok(n) if n >= 1 && header[0] != tls::HANDSHAKE => return Ok(Vec::new()),
        Ok(0) | Err(_) => return Ok(Vec::new()),
        Ok(_) => {}
    }
    let mut record = vec![0u8; tls::HEADER];
    client.read_exact(&mut record).map_err(|e| format!("the TLS record ended early: {e}"))?;
    let length = tls::record_length(&record).ok_or("not a TLS handshake record")?;
    record.resize(length, 0);
    client
        .read_exact(record.get_mut(tls::HEADER..).unwrap_or_default())
        .map_err(|e| format!("the TLS record ended early: {e}"))?;
    let host = vtpolicy_engine::normalize_host(&target.host);
    let literal = host.parse::<IpAddr>().is_ok();
    match tls::server_name(&record) {
        tls::ServerName::Named(name) if vtpolicy_engine::normalize_host(&name) == host => Ok(record),
        tls::ServerName::Named(name) => {
            Err(format!("the TLS client asked for `{name}` on a connection allowed to `{}`", target.host))
        }
        // Clients send no server name for an address.
        tls::ServerName::Unnamed if literal => Ok(record),
        tls::ServerName::Unnamed => Err(format!("the TLS client named no server on a connection to `{}`", target.host)),
        tls::ServerName::Unreadable => Err("the TLS ClientHello could not be read".to_owned()),
    }
}

/// Copies both ways until each side is done; `first` goes upstream first.
fn relay(client: TcpStream, mut upstream: TcpStream, first: &[u8]) -> io::Result<()> {
    upstream.write_all(first)?;
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
        let refused = open(&target, "connect", &judge(false)).err().expect("refused");
        let message = refused.connection.refused.unwrap_or_default();
        assert!(message.starts_with("localhost resolves to 127.0.0.1, a loopback address"), "{message}");
        assert!(refused.judged);
        let (connection, _stream) = open(&target, "connect", &judge(true)).ok().expect("connected");
        assert_eq!(connection.address, Some(format!("127.0.0.1:{port}")));
    }
}
