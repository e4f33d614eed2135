use zhiying_scorecard::*;
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let t = Table::read_csv(std::path::Path::new(&args[1]))?;
    let target = &args[2];
    let pos = args.get(3).map(String::as_str);
    let y = t.target(target, pos)?;
    let excl: Vec<&str> = vec![target.as_str(), "duration"];
    let cols: Vec<Column> = t
        .columns
        .iter()
        .filter(|c| !excl.contains(&c.name.as_str()))
        .cloned()
        .collect();
    let feats: Vec<NamedFeature> = cols.iter().map(Column::named).collect();
    let card = Scorecard::fit(&feats, &y, &ScorecardOptions::default())?;
    println!("{}", render_iv_table(&card.binnings));
    println!("{}", card.render_points_table());
    for c in &card.candidates {
        println!("{} {:.4} {:?}", c.name, c.iv, c.selection);
    }
    let r = card.reason_codes(&feats, 3, Baseline::BestPossible)?;
    for x in &r[1] {
        println!("{} | {}", x.text_en, x.text_zh);
    }
    let t0 = std::time::Instant::now();
    let rep = cv::cross_validate(
        &cols,
        &y,
        &cv::Algorithm::Scorecard(ScorecardOptions::default()),
        5,
        42,
        Some(CostMatrix::GERMAN_CREDIT),
        |_| {},
    )?;
    println!(
        "scorecard auc {:?} ks {:?} ll {:?} cost {:?} {:.2}s",
        rep.auc(),
        rep.ks(),
        rep.log_loss(),
        rep.total_cost(),
        t0.elapsed().as_secs_f64()
    );
    let t0 = std::time::Instant::now();
    let rep = cv::cross_validate(
        &cols,
        &y,
        &cv::Algorithm::Logistic(IrlsOptions {
            l2: 1.0,
            ..Default::default()
        }),
        5,
        42,
        Some(CostMatrix::GERMAN_CREDIT),
        |_| {},
    )?;
    println!(
        "logistic auc {:?} ks {:?} ll {:?} cost {:?} {:.2}s",
        rep.auc(),
        rep.ks(),
        rep.log_loss(),
        rep.total_cost(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
