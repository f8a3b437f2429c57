//! The TCP proxy on loopback, with a plain TCP echo server behind it, and its link model
//! driven by a clock of the test's own: bytes always arrive complete and in order;
//! losses, retransmissions, connections, requests and cuts are counted; the model's
//! schedule (rate, delay, recovery penalties, blackout backoff, connection set-up) is
//! checked as arithmetic on instants, never against the wall clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fieldsync_linkem::{
    Direction, Faults, MSS, Profile, RTO_MIN, SEGMENT_OVERHEAD, StreamLane, TcpLink, TcpProxy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Write `data` and read the same number of bytes back, concurrently.
async fn round(s: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = s.split();
    let write = async {
        w.write_all(data).await.unwrap();
    };
    let read = async {
        let mut got = vec![0u8; data.len()];
        r.read_exact(&mut got).await.unwrap();
        got
    };
    let ((), got) = tokio::join!(write, read);
    got
}

#[tokio::test]
async fn clean_link_carries_the_stream_exactly() {
    let proxy = TcpProxy::start(echo_server().await, Faults::default(), 1)
        .await
        .unwrap();
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let data = pattern(300_000);
    assert_eq!(round(&mut s, &data).await, data);
    let st = proxy.stats();
    assert_eq!((st.bytes_up, st.bytes_down), (300_000, 300_000));
    assert!(st.segments_up >= 300_000u64.div_ceil(MSS as u64));
    assert_eq!((st.connections, st.lost, st.cut), (1, 0, 0));
}

#[tokio::test]
async fn loss_delays_but_never_corrupts_and_is_counted() {
    let faults = Faults {
        loss: 0.05,
        delay: Duration::from_millis(1),
        jitter: Duration::from_millis(1),
        ..Faults::default()
    };
    let proxy = TcpProxy::start(echo_server().await, faults, 7)
        .await
        .unwrap();
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let data = pattern(400_000);
    assert_eq!(round(&mut s, &data).await, data);
    let st = proxy.stats();
    let segs = st.segments_up + st.segments_down;
    // ~5% of ~550+ segments, every loss recovered one way or the other.
    assert!(st.lost >= 10 && st.lost <= segs / 5, "{st:?}");
    assert_eq!(st.lost, st.fast_retransmits + st.timeouts);
    assert!(st.fast_retransmits > 0, "{st:?}");
}

#[tokio::test]
async fn requests_and_connections_are_counted() {
    let proxy = TcpProxy::start(echo_server().await, Faults::default(), 3)
        .await
        .unwrap();
    for _ in 0..2 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        for i in 0..5u8 {
            // One request, its whole answer, then the next: five turns per connection.
            assert_eq!(round(&mut s, &[i; 300]).await, vec![i; 300]);
        }
    }
    let st = proxy.stats();
    assert_eq!((st.connections, st.requests), (2, 10));
    assert_eq!((st.bytes_up, st.bytes_down), (3_000, 3_000));
}

#[tokio::test]
async fn a_blackout_holds_the_stream_until_it_ends() {
    let proxy = TcpProxy::start(echo_server().await, Faults::default(), 2)
        .await
        .unwrap();
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    proxy.blackout(Duration::from_millis(300));
    let data = pattern(5_000);
    assert_eq!(round(&mut s, &data).await, data);
    let st = proxy.stats();
    assert!(st.timeouts >= 1 && st.lost == st.timeouts, "{st:?}");
}

#[tokio::test]
async fn rebinding_cuts_open_connections() {
    let proxy = TcpProxy::start(echo_server().await, Faults::default(), 4)
        .await
        .unwrap();
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(round(&mut s, b"before").await, b"before");
    proxy.rebind();
    // The old connection ends (EOF or reset) instead of answering.
    let _ = s.write_all(b"after").await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the cut connection ends")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let mut s2 = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(round(&mut s2, b"again").await, b"again");
    let st = proxy.stats();
    assert_eq!((st.rebinds, st.cut, st.connections), (1, 1, 2));
}

#[test]
fn model_rate_delay_and_connection_setup() {
    // 120 kbit/s: a full segment (1,500 B on the wire) takes 100 ms.
    let mut link = TcpLink::new(
        Faults {
            rate_bps: Some(120_000),
            delay: Duration::from_millis(50),
            ..Faults::default()
        },
        1,
    );
    let t0 = Instant::now();
    let mut lane = StreamLane {
        not_before: Some(t0 + link.rtt()),
        last_arrival: None,
    };
    let ms = Duration::from_millis;
    // Set-up: nothing leaves before one RTT (100 ms); then 100 ms per segment + 50 ms.
    let a = link.segment(t0, Direction::Up, MSS, 1, &mut lane);
    let b = link.segment(t0, Direction::Up, MSS, 0, &mut lane);
    assert_eq!(a - t0, ms(100 + 100 + 50));
    assert_eq!(b - t0, ms(100 + 200 + 50));
    // The other direction has its own link; a small segment costs its own size.
    let mut down = StreamLane::default();
    let c = link.segment(t0, Direction::Down, 110, 0, &mut down);
    assert_eq!(
        c - t0,
        ms((110 + SEGMENT_OVERHEAD as u64) * 8 * 1000 / 120_000) + ms(50)
    );
    let st = link.stats();
    assert_eq!(
        (st.segments_up, st.bytes_up, st.bytes_down),
        (2, 2 * MSS as u64, 110)
    );
}

#[test]
fn model_blackout_backs_off_like_tcp() {
    let t0 = Instant::now();
    let delay = Duration::from_millis(100);
    let mut link = TcpLink::new(
        Faults {
            delay,
            blackout_until: Some(t0 + Duration::from_secs(2)),
            ..Faults::default()
        },
        1,
    );
    // RTO = 200 ms RTT + 200 ms: lost at 0, 0.4, 1.2 (0.4 + 0.8) s; resent at 2.8 s.
    assert_eq!(link.rto(), Duration::from_millis(200) + RTO_MIN);
    let mut lane = StreamLane::default();
    let at = link.segment(t0, Direction::Up, 100, 10, &mut lane);
    assert_eq!(at - t0, Duration::from_millis(400 + 800 + 1600) + delay);
    let st = link.stats();
    assert_eq!((st.lost, st.timeouts, st.fast_retransmits), (3, 3, 0));
}

#[test]
fn model_loss_costs_an_rtt_or_a_timeout_and_keeps_order() {
    let delay = Duration::from_millis(150);
    let mut link = TcpLink::new(
        Faults {
            loss: 0.05,
            delay,
            ..Faults::default()
        },
        9,
    );
    let t0 = Instant::now();
    let mut lane = StreamLane::default();
    let mut arrivals = Vec::new();
    // 100 writes of 10 segments: the last three of each write cannot fast-retransmit.
    for w in 0..100u32 {
        let now = t0 + Duration::from_secs(u64::from(w));
        for i in 0..10 {
            arrivals.push(link.segment(now, Direction::Down, MSS, 9 - i, &mut lane));
        }
    }
    assert!(arrivals.windows(2).all(|p| p[0] <= p[1]), "in order");
    let st = link.stats();
    assert!((20..=90).contains(&st.lost), "{st:?}");
    assert!(st.fast_retransmits > 0 && st.timeouts > 0, "{st:?}");
    // Every write's last byte is late by at least the penalty of its worst loss.
    let late: Duration = (0..100)
        .map(|w| arrivals[w * 10 + 9] - (t0 + Duration::from_secs(w as u64) + delay))
        .sum();
    assert!(late >= link.rtt() * (st.lost as u32 / 10), "{late:?}");
}

#[test]
fn tcp_physical_limit_counts_segment_headers() {
    let edge = Profile::edge();
    // 14,600 B in 10 segments (15,000 B on the wire) at 256 kbit/s = 0.46875 s + 2 RTT.
    assert_eq!(
        edge.physical_limit_tcp(14_600, 10, 2),
        Duration::from_millis(600) + Duration::from_secs_f64(0.46875)
    );
}

#[tokio::test]
async fn profiles_drive_the_tcp_proxy() {
    // Satellite through TCP: bytes complete, one connection, nothing cut.
    let proxy = TcpProxy::with_profile(echo_server().await, &Profile::satellite(), 5)
        .await
        .unwrap();
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let data = pattern(20_000);
    assert_eq!(round(&mut s, &data).await, data);
    let st = proxy.stats();
    assert_eq!(
        (st.connections, st.bytes_up, st.bytes_down),
        (1, 20_000, 20_000)
    );
}
