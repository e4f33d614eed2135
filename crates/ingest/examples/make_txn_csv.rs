//! Writes canonical customers, accounts and transactions CSVs for the ingest benchmark.
//!
//! Usage: `make_txn_csv N OUT_DIR` → OUT_DIR/{customers,accounts,transactions}.csv with
//! N transactions over N/100 customers (one account each). Deterministic.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};

const CHANNELS: [&str; 6] = ["mobile", "pos", "atm", "online", "branch", "wechat"];
const TYPES: [&str; 6] = [
    "purchase",
    "salary",
    "transfer_in",
    "transfer_out",
    "bill_payment",
    "atm_withdrawal",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .ok_or("usage: make_txn_csv N OUT_DIR")?
        .parse()?;
    let out = std::path::PathBuf::from(args.get(2).ok_or("usage: make_txn_csv N OUT_DIR")?);
    std::fs::create_dir_all(&out)?;
    let customers = (n / 100).max(1);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };

    let mut w =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(out.join("customers.csv"))?);
    writeln!(w, "customer_id,source_system,gender,open_date,city")?;
    for c in 0..customers {
        writeln!(
            w,
            "C{c:08},core,{},2020-01-{:02},Shanghai",
            ["m", "f"][(c % 2) as usize],
            1 + c % 28
        )?;
    }
    w.flush()?;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out.join("accounts.csv"))?);
    writeln!(
        w,
        "account_id,customer_id,account_type,currency,open_date,status,balance_fen"
    )?;
    for c in 0..customers {
        writeln!(
            w,
            "A{c:08},C{c:08},current,cny,2020-02-01,active,{}",
            next() % 10_000_000
        )?;
    }
    w.flush()?;

    let mut w = BufWriter::with_capacity(
        1 << 22,
        std::fs::File::create(out.join("transactions.csv"))?,
    );
    writeln!(
        w,
        "txn_id,account_id,customer_id,ts,amount_fen,currency,direction,channel,txn_type,merchant_category"
    )?;
    let mut line = String::with_capacity(160);
    for i in 0..n {
        let r = next();
        let c = r % customers;
        let day = 1 + (r >> 20) % 28;
        let secs = (r >> 30) % 86_400;
        let amount = (r >> 40) % 500_000;
        let t = ((r >> 8) % 6) as usize;
        line.clear();
        write!(
            line,
            "T{i:012},A{c:08},C{c:08},2024-03-{day:02} {:02}:{:02}:{:02},{}.{:02},cny,{},{},{},{}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            amount / 100,
            amount % 100,
            if t == 1 || t == 2 { "credit" } else { "debit" },
            CHANNELS[((r >> 12) % 6) as usize],
            TYPES[t],
            if t == 0 { "5411" } else { "" },
        )?;
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    w.flush()?;
    eprintln!(
        "wrote {customers} customers, {customers} accounts and {n} transactions to {}",
        out.display()
    );
    Ok(())
}
