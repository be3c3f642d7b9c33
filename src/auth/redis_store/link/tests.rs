//! The link against fake Redis servers: what it sends on connecting, how it backs off, and
//! that pipelined replies reach their callers.

use super::*;
use tokio::net::TcpListener;

/// A Redis of one connection that answers the commands it reads with `replies`, one each, and
/// records what it was sent.
async fn fake_redis(replies: Vec<&'static [u8]>) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        for reply in replies {
            let mut buf = vec![0; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
            socket.write_all(reply).await.unwrap();
        }
        seen
    });
    (port, server)
}

fn target(port: u16, user: Option<&str>) -> Target {
    Target {
        host: "127.0.0.1".into(),
        port,
        tls: false,
        username: user.map(|u| SecretString::new(u.into())),
        password: Some(SecretString::new("pw".into())),
        db: 2,
    }
}

#[tokio::test]
async fn a_redis_without_users_gets_the_password_alone_then_the_database() {
    let (port, server) = fake_redis(vec![
        b"-ERR wrong number of arguments for 'auth' command\r\n",
        b"+OK\r\n",
        b"+OK\r\n",
        b"+PONG\r\n",
    ])
    .await;
    let link = Link::new(target(port, Some("app"))).unwrap();
    let pong = link.call(&Command::new("PING")).await.unwrap();
    assert_eq!(pong, Value::Status("PONG".into()));
    let seen = String::from_utf8(server.await.unwrap()).unwrap();
    assert_eq!(
        seen,
        "*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n\
         *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*1\r\n$4\r\nPING\r\n"
    );
}

#[tokio::test]
async fn refused_credentials_fail_the_call_and_back_off() {
    let (port, _server) = fake_redis(vec![b"-WRONGPASS invalid username-password pair\r\n"]).await;
    let link = Link::new(target(port, Some("app"))).unwrap();
    let first = link.call(&Command::new("PING")).await;
    assert_eq!(
        first,
        Err(CallError("Redis refused the store's credentials"))
    );
    // Within the back-off the next call fails at once, without connecting.
    let second = link.call(&Command::new("PING")).await;
    assert_eq!(
        second,
        Err(CallError("Redis is unreachable; retrying shortly"))
    );
}

#[tokio::test]
async fn a_redis_that_accepts_and_closes_is_not_reconnected_to_by_every_call() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    // What Redis does at its `maxclients`: accept, say why, close.
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = socket
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
        }
    });
    let mut plain = target(port, None);
    plain.password = None;
    plain.db = 0;
    let link = Link::new(plain).unwrap();
    for _ in 0..30 {
        let answer = link.call(&Command::new("PING")).await;
        assert!(!matches!(answer, Ok(Value::Status(_))), "{answer:?}");
    }
    // One per call without the back-off; with it one, or a few where the loop outlasts the
    // first waits (50 ms, 100 ms, ...) on a loaded machine.
    let connections = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(connections <= 5, "{connections} connections for 30 calls");
    // The back-off still ends: a call after the longest wait connects again.
    tokio::time::sleep(MAX_BACKOFF + Duration::from_millis(50)).await;
    let _ = link.call(&Command::new("PING")).await;
    let later = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(later > connections, "no new attempt after the back-off");
}

#[tokio::test]
async fn every_pipelined_caller_gets_one_reply_of_its_own() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers every PING it reads with an integer counting the commands so far, several
    // replies per write when several commands came in one read.
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut count = 0;
        let mut buf = vec![0; 65536];
        loop {
            let Ok(n) = socket.read(&mut buf).await else {
                return;
            };
            if n == 0 {
                return;
            }
            let pings = buf[..n].windows(4).filter(|w| w == b"PING").count();
            let mut out = Vec::new();
            for _ in 0..pings {
                count += 1;
                out.extend_from_slice(format!(":{count}\r\n").as_bytes());
            }
            if socket.write_all(&out).await.is_err() {
                return;
            }
        }
    });
    let mut plain = target(port, None);
    plain.password = None;
    plain.db = 0;
    let link = Arc::new(Link::new(plain).unwrap());
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let link = link.clone();
            tokio::spawn(async move { link.call(&Command::new("PING")).await })
        })
        .collect();
    let mut seen = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(Value::Int(n)) => seen.push(n),
            other => panic!("{other:?}"),
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=50).collect::<Vec<i64>>(), "each reply once");
}
