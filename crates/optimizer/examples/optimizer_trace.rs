fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(400);
    let p = if let Some(seed) = a.get(2).and_then(|s| s.parse().ok()) {
        zhiying_optimizer::synth::random_small(n, seed).unwrap()
    } else {
        zhiying_optimizer::synth::realistic(n, 7).unwrap()
    };
    let s = zhiying_optimizer::optimize(&p, &Default::default()).unwrap();
    println!("{s}");
    println!("{:?} {:?} {:?} K={} opc={}", p.channels(), p.campaigns(), p.offers(), p.max_offers_per_customer(), p.one_per_campaign());
    for i in 0..p.customer_count() as u32 { let v: Vec<_> = p.candidate_range(i).map(|j| { let c = p.candidate(j); (c.campaign.0, c.offer.0, c.channel.0, c.value, c.cost) }).collect(); println!("{v:?}"); }
}
