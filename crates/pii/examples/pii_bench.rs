//! Scan throughput on ~100 MB of generated mixed Chinese/English bank text.
//! `cargo run --release -p zhiying-pii --example pii_bench [MB | FILE]`

use std::time::Instant;

fn main() {
    // `pii_bench FILE`: scan a file instead (e.g. a real export, or the labelled corpus).
    if let Some(path) = std::env::args()
        .nth(1)
        .filter(|a| std::path::Path::new(a).is_file())
    {
        let text = std::fs::read_to_string(&path).expect("a UTF-8 text file");
        let t = Instant::now();
        let findings = zhiying_pii::scan(&text);
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{path}: scanned {:.1} MB in {:.3} s: {:.1} MB/s, {} findings",
            text.len() as f64 / 1e6,
            secs,
            text.len() as f64 / 1e6 / secs,
            findings.len()
        );
        return;
    }
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let lines = [
        "客户张伟来电称卡片被盗刷，手机13812345678，要求冻结卡号6222021234567894。",
        "尊敬的王小明先生，您尾号7894的信用卡本期账单已出，最低还款额为1,234.56元，请于2024-07-15前还款。",
        "客户经理表示，理财产品到期后资金将于T+1日到账，如有疑问请拨打客服热线95588。",
        "Customer asked to update e-mail to zhang.wei88@qq.com and confirmed the transfer of 5000 CNY.",
        "账单地址：北京市朝阳区建国路88号3栋1201室，联系人李娜，身份证号11010519491231002X。",
        "订单号DD20240613000123已发货，物流单号SF1234567890，客户对黄金积存业务感兴趣。",
        "今天网点人流较多，客户排队约半小时，部分客户对服务态度提出了意见，已安排专人跟进处理。",
        "登录IP 113.89.12.7 异常，已临时冻结网银，请客户携带身份证到柜台办理解冻。",
    ];
    let target = mb * 1024 * 1024;
    let mut text = String::with_capacity(target + 512);
    let mut i = 0usize;
    while text.len() < target {
        text.push_str(lines[i % lines.len()]);
        text.push('\n');
        i = i.wrapping_mul(31).wrapping_add(7) % 1009;
    }
    let t = Instant::now();
    let findings = zhiying_pii::scan(&text);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "scanned {:.1} MB in {:.3} s: {:.1} MB/s, {} findings",
        text.len() as f64 / 1e6,
        secs,
        text.len() as f64 / 1e6 / secs,
        findings.len()
    );
}
