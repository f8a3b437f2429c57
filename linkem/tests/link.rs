//! The proxy on loopback: a plain UDP echo server behind it, so what is measured is the
//! proxy alone. Counts and orders are asserted; the rate limit is checked by the number
//! of datagrams the queue refused, not by a clock.

use std::net::SocketAddr;
use std::time::Duration;

use fieldsync_linkem::{Burst, Faults, Profile, Proxy};
use tokio::net::UdpSocket;

async fn echo_server() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// Send `n` numbered datagrams of `size` bytes, paced so the kernel's socket buffers
/// never overflow (every loss counted is the proxy's), and collect the echoes, read
/// concurrently, until nothing arrives for `quiet`.
async fn exchange(proxy: &Proxy, n: u32, size: usize, quiet: Duration) -> Vec<u32> {
    let dev = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let rx = dev.clone();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(Ok((len, _))) = tokio::time::timeout(quiet, rx.recv_from(&mut buf)).await {
            assert!(len >= 4);
            got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
        }
        got
    });
    for i in 0..n {
        let mut d = vec![0u8; size.max(4)];
        d[..4].copy_from_slice(&i.to_be_bytes());
        dev.send_to(&d, proxy.addr).await.unwrap();
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    reader.await.unwrap()
}

#[tokio::test]
async fn clean_link_forwards_everything_in_order() {
    let proxy = Proxy::start(echo_server().await, Faults::default(), 1)
        .await
        .unwrap();
    let got = exchange(&proxy, 200, 100, Duration::from_millis(500)).await;
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    let s = proxy.stats();
    assert_eq!((s.datagrams_up, s.datagrams_down), (200, 200));
    assert_eq!((s.bytes_up, s.bytes_down), (20_000, 20_000));
    assert_eq!(s.dropped + s.queue_dropped, 0);
}

#[tokio::test]
async fn random_loss_is_near_its_rate_and_jitter_keeps_order() {
    let faults = Faults {
        loss: 0.10,
        delay: Duration::from_millis(2),
        jitter: Duration::from_millis(3),
        ..Faults::default()
    };
    let proxy = Proxy::start(echo_server().await, faults, 7).await.unwrap();
    let got = exchange(&proxy, 1_000, 64, Duration::from_millis(500)).await;
    // Two passes at 10%: about 81% arrive.
    assert!(
        (720..=900).contains(&got.len()),
        "{} of 1000 echoed",
        got.len()
    );
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "jitter alone must not reorder"
    );
    let s = proxy.stats();
    // Every echo the server sent back met the link once more.
    assert_eq!(s.dropped, 1_000 - s.datagrams_down);
    assert_eq!(s.datagrams_down, got.len() as u64);
}

#[tokio::test]
async fn bursts_lose_runs_of_datagrams() {
    let faults = Faults {
        burst: Some(Burst {
            enter: 0.02,
            leave: 0.2,
            loss: 1.0,
        }),
        ..Faults::default()
    };
    let proxy = Proxy::start(echo_server().await, faults, 3).await.unwrap();
    let got = exchange(&proxy, 2_000, 32, Duration::from_millis(500)).await;
    // Gaps of consecutive losses: with bursts, some are long; random 9% loss would
    // almost never lose 5 in a row twice.
    let long_gaps = got.windows(2).filter(|w| w[1] - w[0] > 5).count();
    assert!(long_gaps >= 5, "only {long_gaps} long gaps");
    assert!(
        got.len() < 2_000 && got.len() > 1_200,
        "{} echoed",
        got.len()
    );
}

#[tokio::test]
async fn duplication_and_reordering_happen_and_are_counted() {
    let faults = Faults {
        duplicate: 0.1,
        reorder: 0.2,
        ..Faults::default()
    };
    let proxy = Proxy::start(echo_server().await, faults, 5).await.unwrap();
    let got = exchange(&proxy, 500, 32, Duration::from_millis(500)).await;
    let s = proxy.stats();
    assert!(s.duplicated > 0 && s.reordered > 0);
    assert!(got.len() > 500, "duplicates arrive too");
    assert!(
        got.windows(2).any(|w| w[0] > w[1]),
        "some arrive out of order"
    );
}

#[tokio::test]
async fn a_rate_limited_queue_drops_what_it_cannot_hold() {
    // 64 kbit/s with a 100 ms queue holds ~800 bytes: a burst of 100 x 1,000 B can
    // only partly pass; what passes is in order.
    let faults = Faults {
        rate_bps: Some(64_000),
        queue: Some(Duration::from_millis(100)),
        ..Faults::default()
    };
    let proxy = Proxy::start(echo_server().await, faults, 9).await.unwrap();
    let got = exchange(&proxy, 100, 1_000, Duration::from_millis(800)).await;
    let s = proxy.stats();
    assert!(s.queue_dropped >= 80, "{s:?}");
    assert!(!got.is_empty() && got.len() <= 20, "{} passed", got.len());
    assert!(got.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn blackout_and_rebinding() {
    let proxy = Proxy::start(echo_server().await, Faults::default(), 2)
        .await
        .unwrap();
    proxy.blackout(Duration::from_secs(30));
    assert!(
        exchange(&proxy, 10, 10, Duration::from_millis(200))
            .await
            .is_empty()
    );
    proxy.set_faults(Faults::default());
    proxy.rebind().await.unwrap();
    assert_eq!(
        exchange(&proxy, 10, 10, Duration::from_millis(300))
            .await
            .len(),
        10
    );
    assert_eq!(proxy.stats().rebinds, 1);
}

#[test]
fn profiles_are_named_and_limits_add_up() {
    let names: Vec<_> = Profile::all().iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["loopback", "edge", "3g-bad", "satellite", "flapping"]
    );
    let edge = Profile::named("edge").unwrap();
    assert_eq!(edge.rtt(), Duration::from_millis(300));
    // 32,000 B payload in 100 datagrams at 256 kbit/s = 1.0875 s, plus 2 RTTs.
    let limit = edge.physical_limit(32_000, 100, 2);
    assert_eq!(
        limit,
        Duration::from_millis(600) + Duration::from_secs_f64(1.0875)
    );
    assert_eq!(
        Profile::named("satellite").unwrap().rtt(),
        Duration::from_millis(600)
    );
    assert!(Profile::named("nope").is_none());
}

#[tokio::test]
async fn a_flapping_profile_blacks_the_link_out_on_schedule() {
    let mut p = Profile::loopback();
    p.flap = Some(fieldsync_linkem::Flap {
        up: Duration::from_millis(100),
        down: Duration::from_secs(30),
    });
    let proxy = Proxy::with_profile(echo_server().await, &p, 4)
        .await
        .unwrap();
    assert_eq!(
        exchange(&proxy, 5, 10, Duration::from_millis(50))
            .await
            .len(),
        5
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Inside the 30 s blackout now.
    assert!(
        exchange(&proxy, 5, 10, Duration::from_millis(200))
            .await
            .is_empty()
    );
    assert_eq!(proxy.stats().dropped, 5);
}
