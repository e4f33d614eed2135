//! `decide` with 50 offers, consent and caps checked, over 100,000 fixture customers.
//! Run: `cargo bench -p zhiying-decision --bench decide`.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use zhiying_decision::bench_support::{bench_engine, bench_time};
use zhiying_decision::fixture::customer_id;
use zhiying_decision::{Channel, DecisionRequest};

fn main() {
    divan::main();
}

const CUSTOMERS: usize = 100_000;

/// A real decision: policies, arbitration with Thompson sampling, contact reserved.
#[divan::bench(args = [13, 50])]
fn decide_and_reserve(bencher: divan::Bencher, offers: usize) {
    let engine = bench_engine(CUSTOMERS, offers);
    let next = AtomicUsize::new(0);
    let channels = [
        Channel::AppPush,
        Channel::Wechat,
        Channel::Sms,
        Channel::CallCentre,
    ];
    bencher.bench(|| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        // Customers cycle and the clock moves a minute per decision, so caps bind the
        // way they would in a day's traffic.
        let mut req = DecisionRequest::new(
            &customer_id(i % CUSTOMERS),
            channels[i % channels.len()],
            bench_time() + Duration::minutes((i / 10) as i64 % 600),
        );
        req.max_offers = Some(2);
        divan::black_box(engine.decide(&req))
    });
}

/// The console explorer's path: everything but the reservation.
#[divan::bench]
fn decide_simulated(bencher: divan::Bencher) {
    let engine = bench_engine(CUSTOMERS, 50);
    let next = AtomicUsize::new(0);
    bencher.bench(|| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let mut req =
            DecisionRequest::new(&customer_id(i % CUSTOMERS), Channel::AppPush, bench_time());
        req.simulate = true;
        divan::black_box(engine.decide(&req))
    });
}
