//! A brute-force run with random unknown client ids from many addresses, through the whole
//! token handler: every attempt is refused, the limiters' memory stays within their capacity,
//! and a real client still gets its token.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use base64::Engine as _;
use http::StatusCode;
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::throttle::{BudgetPolicy, Policy};
use tollgate::auth::{AuthConfig, AuthServer};
use tollgate::secret::{sha256, to_hex};

fn small_policy(capacity: usize) -> Policy {
    Policy {
        free_failures: 5,
        first_lockout: Duration::from_secs(1),
        max_lockout: Duration::from_secs(15),
        forget_after: Duration::from_secs(300),
        capacity,
    }
}

fn token_request(id: &str, secret: &str) -> http::request::Parts {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {credentials}"))
        .body(())
        .expect("request")
        .into_parts()
        .0
}

#[tokio::test]
async fn random_unknown_ids_from_many_addresses_keep_the_limiters_bounded() {
    let registry = ClientRegistry::parse(&format!(
        r#"{{"clients":[{{"client_id":"svc","secret_sha256":"{}","scope":"read"}}]}}"#,
        to_hex(&sha256(b"the right secret"))
    ))
    .expect("registry");
    let mut config = AuthConfig::new("https://localhost:5003");
    config.client_lockout = small_policy(512);
    config.address_budget = BudgetPolicy {
        capacity: 512,
        ..BudgetPolicy::per_address()
    };
    let server = AuthServer::new(registry, config);
    let body = b"grant_type=client_credentials";

    for i in 0..20_000u32 {
        let id = format!(
            "attacker-{:08x}",
            u32::from_le_bytes(sha256(&i.to_le_bytes())[..4].try_into().unwrap())
        );
        let peer = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i % 4096)));
        let response = server
            .respond(&token_request(&id, "guess"), body, peer)
            .await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&response.status()),
            "attempt {i}: {}",
            response.status()
        );
    }
    let (ids, addresses) = server.throttled_keys();
    assert!(
        ids <= 512,
        "{ids} (client id, address) keys kept for 20,000 random ids"
    );
    assert!(
        addresses <= 512,
        "{addresses} address keys kept for 4,096 addresses"
    );
    assert!(ids > 0 && addresses > 0, "the limiters recorded nothing");

    let response = server
        .respond(
            &token_request("svc", "the right secret"),
            body,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
