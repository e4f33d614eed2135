//! The detectors. One byte pass handles every ASCII-shaped kind; one Aho-Corasick pass
//! finds the Chinese cues that names and addresses hang off.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::{Finding, PiiKind};

const C_ID: f32 = 0.99;
const C_ID_LEGACY: f32 = 0.85;
const C_CARD: f32 = 0.95;
const C_MOBILE: f32 = 0.9;
const C_LANDLINE: f32 = 0.8;
const C_EMAIL: f32 = 0.98;
const C_IP: f32 = 0.85;
const C_PASSPORT: f32 = 0.9;
const C_NAME: f32 = 0.8;
const C_ADDRESS: f32 = 0.75;

/// Scan free text and return non-overlapping findings in text order.
/// Where candidates overlap, the higher confidence wins, then the longer span.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    scan_ascii(text, &mut out);
    scan_cjk(text, &mut out);
    resolve(out)
}

fn resolve(mut cands: Vec<Finding>) -> Vec<Finding> {
    if cands.len() <= 1 {
        return cands;
    }
    // Overlaps only happen inside a cluster of transitively overlapping spans, and the
    // greedy choice inside one cluster does not depend on any other: sort by position, cut
    // into clusters, resolve each (nearly all hold one candidate) on its own.
    cands.sort_unstable_by_key(|f| (f.start, f.end));
    let mut out = Vec::with_capacity(cands.len());
    let mut i = 0;
    while i < cands.len() {
        let mut end = cands[i].end;
        let mut j = i + 1;
        while j < cands.len() && cands[j].start < end {
            end = end.max(cands[j].end);
            j += 1;
        }
        if j - i == 1 {
            out.push(cands[i]);
        } else {
            resolve_cluster(&mut cands[i..j], &mut out);
        }
        i = j;
    }
    out
}

/// Highest confidence first, then the longer span, then the earlier one; keep each
/// candidate that overlaps nothing kept so far. Appends the kept spans in position order.
fn resolve_cluster(cands: &mut [Finding], out: &mut Vec<Finding>) {
    cands.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    if cands.len() <= 32 {
        let mut kept: Vec<Finding> = Vec::with_capacity(2);
        for c in cands.iter() {
            if kept.iter().all(|k| k.end <= c.start || k.start >= c.end) {
                kept.push(*c);
            }
        }
        kept.sort_unstable_by_key(|f| f.start);
        out.extend(kept);
        return;
    }
    // A large cluster (adversarial input): kept spans keyed by start, so each overlap
    // check is two neighbour look-ups instead of a pass over everything kept.
    let mut kept: std::collections::BTreeMap<usize, Finding> = std::collections::BTreeMap::new();
    for c in cands.iter() {
        let before_ok = kept
            .range(..=c.start)
            .next_back()
            .is_none_or(|(_, k)| k.end <= c.start);
        let after_ok = kept
            .range(c.start..)
            .next()
            .is_none_or(|(_, k)| k.start >= c.end);
        if before_ok && after_ok {
            kept.insert(c.start, *c);
        }
    }
    out.extend(kept.into_values());
}

// ---------------------------------------------------------------- checks

/// GB 11643-1999 check: 18 chars, 17 digits then a digit or X, a plausible region and a
/// real date of birth.
pub fn resident_id_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let expect = CHECK[(sum % 11) as usize];
    let last = b[17].to_ascii_uppercase();
    last == expect && region_ok(b) && date_ok(&b[6..14])
}

fn region_ok(b: &[u8]) -> bool {
    // First digit 1..=8 (8x = HK/Macau/Taiwan residence permits).
    matches!(b[0], b'1'..=b'8') && b[1].is_ascii_digit()
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0, |a, d| a * 10 + u32::from(d - b'0'))
}

/// `yyyyMMdd`, 1900..=2030, a real calendar day.
fn date_ok(b: &[u8]) -> bool {
    let (y, m, d) = (num(&b[..4]), num(&b[4..6]), num(&b[6..8]));
    if !(1900..=2030).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

fn legacy_id_valid(b: &[u8]) -> bool {
    if b.len() != 15 || !region_ok(b) {
        return false;
    }
    let mut d = *b"19000000";
    d[2..8].copy_from_slice(&b[6..12]);
    date_ok(&d)
}

/// Luhn (mod 10) over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Plausible issuer prefix for the length: UnionPay 62 (16–19), Visa 4 (13/16/19),
/// Mastercard 51–55 / 2221–2720 (16), Amex 34/37 (15), JCB 35 (16–19).
fn bin_ok(d: &[u8]) -> bool {
    let n = d.len();
    let p2 = num(&d[..2]);
    let p4 = num(&d[..4]);
    match d[0] {
        b'4' => matches!(n, 13 | 16 | 19),
        b'6' => p2 == 62 && (16..=19).contains(&n),
        b'5' => (51..=55).contains(&p2) && n == 16,
        b'2' => (2221..=2720).contains(&p4) && n == 16,
        b'3' => ((p2 == 34 || p2 == 37) && n == 15) || (p2 == 35 && (16..=19).contains(&n)),
        _ => false,
    }
}

fn card_ok(d: &[u8]) -> bool {
    (13..=19).contains(&d.len()) && bin_ok(d) && luhn_valid(d)
}

fn mobile_ok(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == b'1' && matches!(d[1], b'3'..=b'9')
}

// ---------------------------------------------------------------- ASCII pass

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn scan_ascii(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c.is_ascii_digit() {
            i = digits_at(text, i, out);
        } else if c == b'@' {
            email_at(b, i, out);
            i += 1;
        } else if c == b':' {
            i = ipv6_at(text, i, out);
        } else if matches!(c, b'C' | b'D' | b'E' | b'G' | b'H' | b'M' | b'P' | b'S')
            && (i == 0 || !is_alnum(b[i - 1]))
        {
            i = travel_doc_at(text, i, out);
        } else if c.is_ascii_alphabetic() {
            // Skip the rest of a word so digits glued to letters (order numbers like
            // DD2024...) are never taken as a standalone number. The one exception is a
            // dotted quad (`IP10.1.2.3`), whose shape is distinctive on its own.
            while i < n && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            if i < n
                && b[i].is_ascii_digit()
                && let Some(end) = ipv4_at(b, i)
            {
                out.push(f(PiiKind::IpAddress, i, end, C_IP));
                i = end;
                continue;
            }
            while i < n && is_alnum(b[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
}

/// Handles a digit run starting at `i` (which follows a non-digit). Returns where to
/// resume.
fn digits_at(text: &str, i: usize, out: &mut Vec<Finding>) -> usize {
    let b = text.as_bytes();
    let n = b.len();
    let run_end = |mut j: usize| {
        while j < n && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let first_end = run_end(i);
    // Inside a decimal (12.5 / 3.1415...) – not a standalone number.
    if i >= 2 && b[i - 1] == b'.' && b[i - 2].is_ascii_digit() {
        return first_end;
    }
    if first_end < n && b[first_end] == b'.' {
        if let Some(end) = ipv4_at(b, i) {
            out.push(f(PiiKind::IpAddress, i, end, C_IP));
            return end;
        }
        // An amount or version: skip the whole dotted run.
        let mut j = first_end;
        while j < n && (b[j] == b'.' || b[j].is_ascii_digit()) {
            j += 1;
        }
        return j;
    }
    // Digit groups separated by one space or dash ("138 1234 5678", "6222-0212-...").
    let mut groups: Vec<(usize, usize)> = vec![(i, first_end)];
    let mut j = first_end;
    while groups.len() < 6
        && j + 1 < n
        && (b[j] == b' ' || b[j] == b'-')
        && b[j + 1].is_ascii_digit()
    {
        let e = run_end(j + 1);
        groups.push((j + 1, e));
        j = e;
    }
    let plus = i >= 1 && b[i - 1] == b'+';
    for k in (1..=groups.len()).rev() {
        let gs = &groups[..k];
        let end = gs[k - 1].1;
        // Letters glued to the end (except the ID's X) mean a code, not a number.
        let after = b.get(end).copied();
        let x_tail =
            matches!(after, Some(b'X' | b'x')) && b.get(end + 1).is_none_or(|&c| !is_alnum(c));
        if let Some(a) = after
            && is_alnum(a)
            && !x_tail
        {
            continue;
        }
        let digits: Vec<u8> = gs
            .iter()
            .flat_map(|&(s, e)| b[s..e].iter().copied())
            .collect();
        let lens: Vec<usize> = gs.iter().map(|&(s, e)| e - s).collect();
        let start = if plus { i - 1 } else { i };
        if let Some((kind, conf, end)) = classify_digits(&digits, &lens, plus, x_tail, end) {
            if (kind != PiiKind::Mobile && plus) || (kind == PiiKind::BankCard && k < groups.len())
            {
                // A card must use its whole digit group run: `6217 0049 9704 0868 697`
                // with a bad check digit must not yield its Luhn-valid 16-digit prefix.
                continue;
            }
            let s = if kind == PiiKind::Mobile { start } else { i };
            out.push(f(kind, s, end, conf));
            return end;
        }
    }
    first_end
}

fn classify_digits(
    d: &[u8],
    lens: &[usize],
    plus: bool,
    x_tail: bool,
    end: usize,
) -> Option<(PiiKind, f32, usize)> {
    let n = d.len();
    let single = lens.len() == 1;
    if x_tail && single && n == 17 {
        let mut id = d.to_vec();
        id.push(b'X');
        return std::str::from_utf8(&id)
            .ok()
            .filter(|s| resident_id_valid(s))
            .map(|_| (PiiKind::ResidentId, C_ID, end + 1));
    }
    if x_tail {
        return None;
    }
    // Resident ID: contiguous, or 6-8-4 spaced.
    if n == 18 && (single || lens == [6, 8, 4]) {
        if std::str::from_utf8(d).is_ok_and(resident_id_valid) {
            return Some((PiiKind::ResidentId, C_ID, end));
        }
        // A Gansu-region (62...) ID with a bad check digit must not become a card.
        if date_ok(&d[6..14]) {
            return None;
        }
    }
    if n == 15 && single && legacy_id_valid(d) {
        return Some((PiiKind::ResidentId, C_ID_LEGACY, end));
    }
    // Mobile, with optional country code.
    let national = if plus && d.starts_with(b"86") && n == 13 {
        Some(&d[2..])
    } else if d.starts_with(b"0086") && n == 15 {
        Some(&d[4..])
    } else {
        None
    };
    let mobile_shape = match (national.is_some(), lens) {
        (false, [11]) | (false, [3, 4, 4]) => mobile_ok(d),
        (true, [13]) | (true, [15]) | (true, [2, 11]) | (true, [4, 11]) => {
            national.is_some_and(mobile_ok)
        }
        (true, [2, 3, 4, 4]) | (true, [4, 3, 4, 4]) => national.is_some_and(mobile_ok),
        _ => false,
    };
    if mobile_shape {
        return Some((PiiKind::Mobile, C_MOBILE, end));
    }
    if plus {
        return None;
    }
    // Landline: 0 + 2–3 digit area code, dash, 7–8 digit subscriber number.
    if let [a, s] = lens
        && d[0] == b'0'
        && d[1] != b'0'
        && (*a == 3 || *a == 4)
        && (*s == 7 || *s == 8)
        && d[*a] != b'0'
        && d[*a] != b'1'
    {
        return Some((PiiKind::Landline, C_LANDLINE, end));
    }
    // Bank card: contiguous, 4-4-4-4(-x) groups, or Amex 4-6-5.
    let grouped = lens.len() >= 3
        && lens[..lens.len() - 1].iter().all(|&l| l == 4)
        && (1..=4).contains(&lens[lens.len() - 1]);
    if (single || grouped || lens == [4, 6, 5]) && card_ok(d) {
        return Some((PiiKind::BankCard, C_CARD, end));
    }
    None
}

fn ipv4_at(b: &[u8], i: usize) -> Option<usize> {
    let n = b.len();
    let mut j = i;
    for part in 0..4 {
        let s = j;
        while j < n && b[j].is_ascii_digit() && j - s < 4 {
            j += 1;
        }
        let len = j - s;
        if len == 0 || len > 3 || num(&b[s..j]) > 255 || (len > 1 && b[s] == b'0') {
            return None;
        }
        if part < 3 {
            if j >= n || b[j] != b'.' {
                return None;
            }
            j += 1;
        }
    }
    // Boundary: not followed by another digit, letter or ".digit".
    if j < n && (is_alnum(b[j]) || (b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit))) {
        return None;
    }
    Some(j)
}

fn ipv6_at(text: &str, i: usize, out: &mut Vec<Finding>) -> usize {
    let b = text.as_bytes();
    let hexc = |c: u8| c.is_ascii_hexdigit() || c == b':';
    let mut s = i;
    while s > 0 && hexc(b[s - 1]) {
        s -= 1;
    }
    let mut e = i;
    while e < b.len() && hexc(b[e]) {
        e += 1;
    }
    // Whatever precedes `s` is not a hex digit or ':' (else it would be included).
    let before_ok = true;
    let after_ok = e == b.len() || !(is_alnum(b[e]) || b[e] == b'.');
    let cand = &text[s..e];
    if before_ok
        && after_ok
        && cand.bytes().filter(|&c| c == b':').count() >= 2
        && cand.len() >= 3
        && cand.parse::<std::net::Ipv6Addr>().is_ok()
    {
        out.push(f(PiiKind::IpAddress, s, e, C_IP));
        return e.max(i + 1);
    }
    i + 1
}

fn email_at(b: &[u8], at: usize, out: &mut Vec<Finding>) {
    let local = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
    let mut s = at;
    while s > 0 && local(b[s - 1]) && at - s < 64 {
        s -= 1;
    }
    while s < at && matches!(b[s], b'.' | b'-' | b'+') {
        s += 1;
    }
    if s == at {
        return;
    }
    let mut e = at + 1;
    while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'.' || b[e] == b'-') {
        e += 1;
    }
    while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
        e -= 1;
    }
    let domain = &b[at + 1..e];
    let Some(dot) = domain.iter().rposition(|&c| c == b'.') else {
        return;
    };
    let tld = &domain[dot + 1..];
    if dot == 0 || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return;
    }
    out.push(f(PiiKind::Email, s, e, C_EMAIL));
}

const DOC_CUES: &[&str] = &[
    "护照",
    "通行证",
    "回乡证",
    "港澳",
    "passport",
    "Passport",
    "PASSPORT",
    "证件号",
    "permit",
];

/// Passport (E/G/D/S/P + 8 digits, or E + letter + 7 digits) and HK/Macau permits
/// (C/H/M + 8 digits, H/M + 10 digits, C + letter + 7 digits). Only accepted with a
/// document keyword in the preceding ~30 bytes, since the bare shape also fits codes.
fn travel_doc_at(text: &str, i: usize, out: &mut Vec<Finding>) -> usize {
    let b = text.as_bytes();
    let n = b.len();
    let mut e = i + 1;
    while e < n && is_alnum(b[e]) {
        e += 1;
    }
    let tok = &b[i..e];
    let digits_from = |k: usize| tok[k..].iter().all(u8::is_ascii_digit);
    let len = tok.len();
    let kind = match tok[0] {
        b'E' | b'G' | b'D' | b'S' | b'P' if len == 9 && digits_from(1) => Some(PiiKind::Passport),
        b'E' if len == 9 && tok[1].is_ascii_uppercase() && digits_from(2) => {
            Some(PiiKind::Passport)
        }
        b'C' | b'H' | b'M' if len == 9 && digits_from(1) => Some(PiiKind::HkMacauPermit),
        b'H' | b'M' if len == 11 && digits_from(1) => Some(PiiKind::HkMacauPermit),
        b'C' if len == 9 && tok[1].is_ascii_uppercase() && digits_from(2) => {
            Some(PiiKind::HkMacauPermit)
        }
        _ => None,
    };
    if let Some(kind) = kind {
        let mut ws = i.saturating_sub(30);
        while !text.is_char_boundary(ws) {
            ws += 1;
        }
        let window = &text[ws..i];
        if DOC_CUES.iter().any(|c| window.contains(c)) {
            out.push(f(kind, i, e, C_PASSPORT));
        }
    }
    e
}

fn f(kind: PiiKind, start: usize, end: usize, confidence: f32) -> Finding {
    Finding {
        kind,
        start,
        end,
        confidence,
    }
}

// ---------------------------------------------------------------- CJK pass

/// 百家姓: the most common single-character surnames (≈ 90% of the population).
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金贾韦夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文施洪辛柯庄樊殷葛倪兰岳鲁牛温翟季安齐梅骆符童宁颜管";

const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "钟离", "独孤", "南宫", "西门", "百里",
];

/// Characters that end a name rather than continue it (function words, verbs and nouns
/// that typically follow a name in bank text).
const NOT_GIVEN: &str = "的了在是说已于和与及等先女经您你我他她们电手卡身账户地住告致投咨询申对将把被还也都又因为今昨请办来去要称表反向到从给让近现之名士姓号客签本人需想打通存取转汇开销挂补查问回没不有这那其此该所及或且但如若即就才再很最更非某各每元分角万亿年月日时点号个位次笔张行网银柜台";

/// Surname + next char pairs that are ordinary words (黄金, 高端, 余额 …), rejected as names.
const NOT_NAMES: &[&str] = &[
    "黄金", "高端", "高级", "高度", "高兴", "高于", "方便", "方式", "方面", "方案", "方法", "金额",
    "金融", "金卡", "钱包", "周末", "周年", "周期", "万元", "文件", "安全", "常用", "常见", "常规",
    "平安", "江苏", "马上", "余额", "程序", "时间", "白金", "于是", "林业", "何时", "许多", "陆续",
    "成功", "关于", "华夏", "石油", "毛利", "江西", "沈阳", "严格", "严重", "齐全", "向您", "季度",
    "安排", "温馨", "龙卡", "易贷", "汤姆", "管理", "康复", "贺卡", "宁波", "武汉", "夏季", "付款",
    "曾经", "任务", "任何", "于此", "万一", "金币", "安心", "方可", "常态", "董事", "秦皇",
];

const NAME_CUES: &[&str] = &[
    "客户",
    "姓名",
    "联系人",
    "户名",
    "经理",
    "收款人",
    "付款人",
    "持卡人",
    "开户人",
    "申请人",
    "借款人",
    "担保人",
    "尊敬的",
    "名字",
    "本人",
    "name:",
    "Name:",
    "NAME:",
    "name：",
    "Name：",
    "代理人",
    "投诉人",
];

const TITLE_CUES: &[&str] = &["先生", "女士", "小姐", "老师"];

const ADDRESS_CUES: &[&str] = &[
    "地址",
    "住址",
    "住在",
    "寄到",
    "寄至",
    "家住",
    "居住于",
    "现居",
];

const PLACES: &[&str] = &[
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "深圳",
    "广州",
    "杭州",
    "南京",
    "苏州",
    "成都",
    "武汉",
    "西安",
    "厦门",
    "青岛",
    "大连",
    "宁波",
    "长沙",
];

#[derive(Clone, Copy)]
enum Cue {
    Name,
    Title,
    Address,
    Place,
}

struct Dicts {
    ac: AhoCorasick,
    cues: Vec<Cue>,
    surnames: CjkSet,
    not_given: CjkSet,
    coarse: CjkSet,
    fine: CjkSet,
}

/// A set of characters of the CJK Unified Ideographs block as a bitmap: membership is one
/// load, where `str::contains(char)` searched the whole list on every character.
struct CjkSet(Box<[u64; 328]>);

impl CjkSet {
    fn of(chars: &str) -> Self {
        let mut bits = Box::new([0u64; 328]);
        for c in chars.chars() {
            if is_cjk(c) {
                let i = c as usize - 0x4E00;
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        CjkSet(bits)
    }

    #[inline]
    fn contains(&self, c: char) -> bool {
        is_cjk(c) && {
            let i = c as usize - 0x4E00;
            self.0[i / 64] & (1 << (i % 64)) != 0
        }
    }
}

/// An administrative address marker (省市区县镇乡).
pub(crate) fn is_coarse(c: char) -> bool {
    dicts().coarse.contains(c)
}

/// A street-level address marker (路街道巷弄号栋幢楼室村座).
pub(crate) fn is_fine(c: char) -> bool {
    dicts().fine.contains(c)
}

fn dicts() -> &'static Dicts {
    static D: OnceLock<Dicts> = OnceLock::new();
    D.get_or_init(|| {
        let mut pats: Vec<&str> = Vec::new();
        let mut cues = Vec::new();
        for (list, cue) in [
            (NAME_CUES, Cue::Name),
            (TITLE_CUES, Cue::Title),
            (ADDRESS_CUES, Cue::Address),
            (PLACES, Cue::Place),
        ] {
            for p in list {
                pats.push(p);
                cues.push(cue);
            }
        }
        // The pattern set is fixed and small, so building cannot fail; fall back to the
        // default kind rather than panicking if the DFA is ever refused.
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&pats)
            .or_else(|_| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&pats)
            })
            .unwrap_or_else(|e| panic!("fixed cue dictionary failed to build: {e}"));
        Dicts {
            ac,
            cues,
            surnames: CjkSet::of(SURNAMES),
            not_given: CjkSet::of(NOT_GIVEN),
            coarse: CjkSet::of(COARSE),
            fine: CjkSet::of(FINE),
        }
    })
}

fn is_cjk(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

fn is_surname(c: char) -> bool {
    dicts().surnames.contains(c)
}

fn given_ok(c: char) -> bool {
    is_cjk(c) && !dicts().not_given.contains(c)
}

fn scan_cjk(text: &str, out: &mut Vec<Finding>) {
    let d = dicts();
    for m in d.ac.find_iter(text) {
        match d.cues[m.pattern().as_usize()] {
            Cue::Name => name_after(text, m.end(), out),
            Cue::Title => name_before(text, m.start(), out),
            Cue::Address => {
                let mut s = m.end();
                for c in text[s..].chars().take(2) {
                    if matches!(c, '：' | ':' | ' ' | '是' | '为') {
                        s += c.len_utf8();
                    } else {
                        break;
                    }
                }
                address_from(text, s, out);
            }
            Cue::Place => address_from(text, m.start(), out),
        }
    }
}

/// Byte length of a compound surname (欧阳, 司马 …) at the start of `s`.
pub(crate) fn compound_surname_len(s: &str) -> Option<usize> {
    COMPOUND_SURNAMES
        .iter()
        .find(|c| s.starts_with(**c))
        .map(|c| c.len())
}

/// Length in bytes of a surname (compound first) starting at `s`.
fn surname_len(rest: &str) -> Option<usize> {
    if let Some(c) = COMPOUND_SURNAMES.iter().find(|c| rest.starts_with(**c)) {
        return Some(c.len());
    }
    let c = rest.chars().next()?;
    is_surname(c).then(|| c.len_utf8())
}

/// `客户张三说…`, `户名：李小明`: surname + one or two given-name characters.
fn name_after(text: &str, cue_end: usize, out: &mut Vec<Finding>) {
    let mut s = cue_end;
    for c in text[s..].chars().take(3) {
        if matches!(c, '：' | ':' | ' ' | '为' | '是' | '叫') {
            s += c.len_utf8();
        } else {
            break;
        }
    }
    let rest = &text[s..];
    let Some(sl) = surname_len(rest) else {
        return;
    };
    let mut given = rest[sl..].chars();
    let Some(g1) = given.next().filter(|&c| given_ok(c)) else {
        return;
    };
    let first_two = &rest[..sl + g1.len_utf8()];
    if NOT_NAMES
        .iter()
        .any(|w| first_two.ends_with(w) && first_two.len() == w.len())
    {
        return;
    }
    let mut end = s + sl + g1.len_utf8();
    if let Some(g2) = given.next().filter(|&c| given_ok(c)) {
        // A third CJK char that is itself a plausible given char would make this a
        // four-char run like 张三丰收 – still take at most two given chars.
        end += g2.len_utf8();
    }
    out.push(f(PiiKind::PersonName, s, end, C_NAME));
}

/// `王小明先生`, `李女士` (the latter has no given name and is not reported).
fn name_before(text: &str, title_start: usize, out: &mut Vec<Finding>) {
    let before: Vec<(usize, char)> = text[..title_start].char_indices().rev().take(4).collect();
    // before[0] is the char right before the title.
    let chars: Vec<char> = before.iter().map(|&(_, c)| c).collect();
    let at = |k: usize| before.get(k).map(|&(i, _)| i);
    // Compound surname + 1–2 given.
    for g in [2usize, 1] {
        if chars.len() >= g + 2 && chars[..g].iter().all(|&c| given_ok(c)) {
            let sur: String = [chars[g + 1], chars[g]].iter().collect();
            if COMPOUND_SURNAMES.contains(&sur.as_str())
                && let Some(s) = at(g + 1)
            {
                out.push(f(PiiKind::PersonName, s, title_start, C_NAME));
                return;
            }
        }
    }
    // Single surname + 2 given, unless the would-be surname is a common preposition.
    if chars.len() >= 3
        && is_surname(chars[2])
        && !matches!(chars[2], '向' | '于' | '和' | '经' | '文')
        && given_ok(chars[1])
        && given_ok(chars[0])
        && !is_surname_word(chars[2], chars[1])
        && let Some(s) = at(2)
    {
        out.push(f(PiiKind::PersonName, s, title_start, C_NAME));
        return;
    }
    if chars.len() >= 2
        && is_surname(chars[1])
        && given_ok(chars[0])
        && !is_surname_word(chars[1], chars[0])
        && let Some(s) = at(1)
    {
        out.push(f(PiiKind::PersonName, s, title_start, C_NAME));
    }
}

fn is_surname_word(a: char, b: char) -> bool {
    let mut buf = [0u8; 8];
    let la = a.encode_utf8(&mut buf).len();
    let lb = b.encode_utf8(&mut buf[la..]).len();
    let w = std::str::from_utf8(&buf[..la + lb]).unwrap_or("");
    NOT_NAMES.contains(&w)
}

pub(crate) const COARSE: &str = "省市区县镇乡";
pub(crate) const FINE: &str = "路街道巷弄号栋幢楼室村座";

/// Extends an address from `s` across CJK, digits and `-#`, ending at the last
/// administrative or street marker; needs at least two markers, one of them street-level.
fn address_from(text: &str, s: usize, out: &mut Vec<Finding>) {
    let d = dicts();
    let mut markers = 0;
    let mut fine = 0;
    let mut last_end = None;
    let mut since_marker = 0;
    for (k, (off, c)) in text[s..].char_indices().enumerate() {
        if k > 60 || !(is_cjk(c) || c.is_ascii_alphanumeric() || c == '-' || c == '#') {
            break;
        }
        if d.coarse.contains(c) || d.fine.contains(c) {
            markers += 1;
            if d.fine.contains(c) {
                fine += 1;
            }
            last_end = Some(s + off + c.len_utf8());
            since_marker = 0;
        } else {
            since_marker += 1;
            if since_marker > 10 {
                break;
            }
        }
    }
    if let Some(e) = last_end
        && markers >= 2
        && fine >= 1
    {
        out.push(f(PiiKind::Address, s, e, C_ADDRESS));
    }
}

// ---------------------------------------------------------------- structured fields

/// What a structured column value holds, judged from the column name and the value.
/// Checksummed shapes (ID, card, mobile, e-mail, IP) are recognised whatever the column is
/// called; names, addresses and travel documents need a telling column name.
pub fn classify_field(column_name: &str, value: &str) -> Option<PiiKind> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let col = column_name.to_ascii_lowercase();
    let has = |keys: &[&str]| keys.iter().any(|k| col.contains(k));
    let whole = scan(v)
        .into_iter()
        .find(|x| x.start == 0 && x.end == v.len());
    if let Some(w) = whole
        && matches!(
            w.kind,
            PiiKind::ResidentId
                | PiiKind::BankCard
                | PiiKind::Mobile
                | PiiKind::Landline
                | PiiKind::Email
                | PiiKind::IpAddress
                | PiiKind::Address
        )
    {
        return Some(w.kind);
    }
    if has(&["name", "姓名", "户名", "联系人", "持卡人"])
        && !has(&[
            "branch",
            "product",
            "file",
            "user_name",
            "campaign",
            "channel",
            "merchant",
        ])
    {
        let sl = surname_len(v)?;
        let given: Vec<char> = v[sl..].chars().collect();
        if (1..=2).contains(&given.len()) && given.iter().all(|&c| is_cjk(c)) {
            return Some(PiiKind::PersonName);
        }
        return None;
    }
    if has(&["passport", "护照"]) || has(&["permit", "通行证"]) {
        let mut out = Vec::new();
        let probe = format!("护照 {v}");
        travel_doc_at(&probe, probe.len() - v.len(), &mut out);
        return out.first().map(|x| x.kind);
    }
    if has(&["addr", "地址", "住址"]) {
        let markers = v.chars().filter(|&c| is_coarse(c) || is_fine(c)).count();
        return (markers >= 1 && v.chars().any(is_cjk)).then_some(PiiKind::Address);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<(PiiKind, &str)> {
        scan(t)
            .into_iter()
            .map(|x| (x.kind, &t[x.start..x.end]))
            .collect()
    }

    #[test]
    fn resident_id_check_digit_and_date() {
        assert!(resident_id_valid("11010519491231002X"));
        assert!(!resident_id_valid("110105194912310029"));
        assert!(!resident_id_valid("110105194913310021"));
        assert_eq!(
            kinds("身份证号11010519491231002X，请核实"),
            vec![(PiiKind::ResidentId, "11010519491231002X")]
        );
        assert!(kinds("订单号110105194912310029").is_empty());
    }

    #[test]
    fn phones_cards_and_boundaries() {
        assert_eq!(
            kinds("电话138 1234 5678"),
            vec![(PiiKind::Mobile, "138 1234 5678")]
        );
        assert_eq!(
            kinds("+86 13812345678"),
            vec![(PiiKind::Mobile, "+86 13812345678")]
        );
        assert_eq!(
            kinds("座机010-62345678"),
            vec![(PiiKind::Landline, "010-62345678")]
        );
        assert!(kinds("流水号2138123456789").is_empty());
        assert!(kinds("DD13812345678").is_empty());
        assert_eq!(
            kinds("卡号6222 0212 3456 7894 请"),
            vec![(PiiKind::BankCard, "6222 0212 3456 7894")]
        );
        assert!(kinds("卡号6222021234567895").is_empty());
    }

    #[test]
    fn names_need_context() {
        assert_eq!(kinds("客户张三说"), vec![(PiiKind::PersonName, "张三")]);
        assert_eq!(
            kinds("王小明先生您好"),
            vec![(PiiKind::PersonName, "王小明")]
        );
        assert!(kinds("客户黄金账户").is_empty());
        assert!(kinds("张三说").is_empty());
    }

    #[test]
    fn fields() {
        assert_eq!(
            classify_field("id_no", "11010519491231002X"),
            Some(PiiKind::ResidentId)
        );
        assert_eq!(
            classify_field("customer_name", "欧阳娜娜"),
            Some(PiiKind::PersonName)
        );
        assert_eq!(classify_field("product_name", "欧阳娜娜"), None);
        assert_eq!(classify_field("amount", "12345"), None);
    }
}

#[cfg(test)]
mod resolve_tests {
    use super::*;

    /// The greedy rule over the whole set at once, as `resolve` did before clustering.
    fn greedy(mut cands: Vec<Finding>) -> Vec<Finding> {
        cands.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then((b.end - b.start).cmp(&(a.end - a.start)))
                .then(a.start.cmp(&b.start))
        });
        let mut kept: Vec<Finding> = Vec::new();
        for c in cands {
            if kept.iter().all(|k| k.end <= c.start || k.start >= c.end) {
                kept.push(c);
            }
        }
        kept.sort_by_key(|f| f.start);
        kept
    }

    #[test]
    fn clustered_resolution_equals_the_global_greedy_rule() {
        // Deterministic pseudo-random spans: small and large clusters, ties, nesting.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..300 {
            let n = 1 + (next() % if round % 10 == 0 { 400 } else { 40 }) as usize;
            let width = 1 + (next() % 2000) as usize;
            let cands: Vec<Finding> = (0..n)
                .map(|_| {
                    let s = (next() as usize) % width;
                    let len = 1 + (next() % 30) as usize;
                    let conf = [0.5f32, 0.7, 0.9, 0.99][(next() % 4) as usize];
                    f(PiiKind::Mobile, s, s + len, conf)
                })
                .collect();
            assert_eq!(resolve(cands.clone()), greedy(cands), "round {round}");
        }
    }
}
