//! A small labelled set of real-looking bank marketing copy: for each text, exactly which
//! rules must fire. Written by hand from the kinds of copy that regulators' published
//! penalty notices cite, plus compliant versions of the same messages.

use std::collections::BTreeSet;

use zhiying_compliance::{Severity, check};

/// (copy, rule ids that must fire — no more, no fewer)
const LABELLED: &[(&str, &[&str])] = &[
    // ---- compliant copy ----
    (
        "【智营银行】您的信用卡本期账单已出，最后还款日为3月25日。",
        &[],
    ),
    (
        "尊敬的客户，您尾号1234的账户今日入账工资，请注意查收。",
        &[],
    ),
    (
        "“稳享”固收+理财新品发售，R2中低风险，业绩比较基准3.0%-3.6%（年化）。业绩比较基准不代表产品未来表现。理财非存款、产品有风险、投资须谨慎。",
        &[],
    ),
    (
        "本产品为非保本浮动收益型理财产品，不保证本金和收益。理财非存款，产品有风险，投资须谨慎。",
        &[],
    ),
    (
        "智营沪深300指数基金开放定投，每月500元起。基金有风险，投资须谨慎，过往业绩不代表未来表现。",
        &[],
    ),
    ("三年期大额存单利率2.35%，20万元起存，受存款保险保障。", &[]),
    (
        "Our new wealth management product targets a performance benchmark of 3.2% p.a. Wealth management products are not deposits. Investment involves risk. Please invest with caution.",
        &[],
    ),
    ("第一次绑卡用户可领取10元话费券，活动详情见App。", &[]),
    (
        "Thank you for banking with us. Your card statement is ready.",
        &[],
    ),
    // ---- prohibited claims ----
    (
        "稳赚不赔！智营理财保本保收益，年化4.5%，理财非存款、产品有风险、投资须谨慎。",
        &["prohibited.no_risk", "prohibited.guarantee"],
    ),
    ("零风险高收益，错过再等一年！", &["prohibited.no_risk"]),
    (
        "本金无忧，到期刚性兑付，放心买。",
        &["prohibited.guarantee"],
    ),
    (
        "Guaranteed returns of 5% a year, completely risk-free!",
        &["prohibited.guarantee", "prohibited.no_risk"],
    ),
    // ---- absolute terms ----
    (
        "全行收益最高的理财产品，理财非存款、产品有风险、投资须谨慎。",
        &["absolute.superlative"],
    ),
    (
        "智营信用卡，您的最佳选择，全国第一的刷卡优惠！",
        &["absolute.superlative"],
    ),
    ("The best savings rate in town.", &["absolute.superlative"]),
    // ---- comparisons with deposits ----
    (
        "比定期存款更安全、收益更高的理财，理财非存款、产品有风险、投资须谨慎。",
        &["comparison.deposit"],
    ),
    (
        "收益是活期存款的10倍！货币基金随存随取。基金有风险，投资须谨慎。",
        &["comparison.deposit"],
    ),
    (
        "This fund is as safe as a bank deposit. Mutual fund investing carries risk; invest with caution. Funds are not deposits.",
        &["comparison.deposit"],
    ),
    // ---- missing disclosures ----
    (
        "新客专享理财，七日年化2.8%，1元起购，随时赎回。",
        &["disclosure.wealth"],
    ),
    (
        "明星基金经理新发基金，近三年净值增长68%，立即认购！",
        &["disclosure.fund"],
    ),
    (
        "Open a wealth management account today and earn an annualized return of 4%.",
        &["disclosure.investment_en"],
    ),
    // ---- regulator impersonation ----
    (
        "央行推荐的安心理财，理财非存款、产品有风险、投资须谨慎。",
        &["impersonation.regulator"],
    ),
    (
        "本产品经银保监会认证，理财非存款、产品有风险、投资须谨慎。",
        &["impersonation.regulator"],
    ),
    (
        "A PBoC-approved investment plan for your family.",
        &["impersonation.regulator"],
    ),
    // ---- several at once ----
    (
        "国家金融监督管理总局指定产品，保本保息，比存款划算，收益最高！",
        &[
            "impersonation.regulator",
            "prohibited.guarantee",
            "comparison.deposit",
            "absolute.superlative",
        ],
    ),
];

#[test]
fn every_labelled_copy_gets_exactly_its_rules() {
    let mut wrong = Vec::new();
    for (text, expected) in LABELLED {
        let got: BTreeSet<String> = check(text)
            .violations
            .into_iter()
            .map(|v| v.rule_id)
            .collect();
        let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        if got != want {
            wrong.push(format!("{text}\n   want {want:?}\n   got  {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        LABELLED.len(),
        wrong.join("\n")
    );
}

#[test]
fn blocking_follows_severity() {
    for (text, expected) in LABELLED {
        let r = check(text);
        assert_eq!(
            r.blocking,
            r.violations.iter().any(|v| v.severity >= Severity::High),
            "{text}"
        );
        if expected.is_empty() {
            assert!(!r.blocking, "{text}");
        }
    }
    // An absolute term alone is a warning, not a block.
    let r = check("智营信用卡，您的最佳选择。");
    assert_eq!(r.violations.len(), 1);
    assert!(!r.blocking);
}

#[test]
fn spans_point_at_the_matched_text_in_bytes_and_chars() {
    for (text, _) in LABELLED {
        let chars: Vec<char> = text.chars().collect();
        for v in check(text).violations {
            assert_eq!(&text[v.byte_start..v.byte_end], v.matched, "{text}");
            let by_chars: String = chars[v.char_start..v.char_end].iter().collect();
            assert_eq!(by_chars, v.matched, "{text}");
            assert!(!v.fix_zh.is_empty() && !v.fix_en.is_empty());
        }
    }
    let r = check("国家金融监督管理总局指定产品，保本保息，比存款划算，收益最高！");
    let spans: Vec<(&str, usize, usize)> = r
        .violations
        .iter()
        .map(|v| (v.rule_id.as_str(), v.char_start, v.char_end))
        .collect();
    assert_eq!(
        spans,
        [
            ("impersonation.regulator", 0, 12),
            ("prohibited.guarantee", 15, 19),
            ("comparison.deposit", 20, 25),
            ("absolute.superlative", 28, 30),
        ]
    );
}

mod props {
    use proptest::prelude::*;

    proptest! {
        /// Any text: no panic, spans inside the text on char boundaries, in order.
        #[test]
        fn any_text_gets_a_consistent_report(text in "(保本|零风险|最高|理财|基金|存款|央行推荐|不|非|[a-z ]{0,6}|\\PC){0,40}") {
            let r = zhiying_compliance::check(&text);
            prop_assert_eq!(r.chars, text.chars().count());
            let mut last = 0;
            for v in &r.violations {
                prop_assert!(v.byte_start <= v.byte_end && v.byte_end <= text.len());
                prop_assert!(text.is_char_boundary(v.byte_start) && text.is_char_boundary(v.byte_end));
                prop_assert_eq!(v.char_start, text[..v.byte_start].chars().count());
                prop_assert!(v.byte_start >= last);
                last = v.byte_start;
            }
        }

        /// Appending the full disclosure removes every disclosure violation and adds nothing.
        #[test]
        fn the_disclosure_satisfies_the_disclosure_rules(text in "(理财|基金|年化收益|定投|[a-z]{0,4}|\\PC){0,20}") {
            let fixed = format!("{text}理财非存款、产品有风险、投资须谨慎。");
            let before = zhiying_compliance::check(&text);
            let after = zhiying_compliance::check(&fixed);
            prop_assert!(after.violations.iter().all(|v| !v.rule_id.starts_with("disclosure.") || v.rule_id == "disclosure.investment_en"));
            let non_disclosure = |r: &zhiying_compliance::CheckReport| r.violations.iter().filter(|v| !v.rule_id.starts_with("disclosure.")).count();
            prop_assert!(non_disclosure(&after) >= non_disclosure(&before));
        }
    }
}
