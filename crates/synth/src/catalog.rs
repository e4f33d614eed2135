//! Fixed reference data: names, cities, merchants, the product catalogue, offers,
//! campaigns and the experiment. Everything here is the same for every seed.

/// Common surnames, most frequent first (sampled with a skew towards the top).
pub const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "欧阳", "司马",
];
pub const MALE_GIVEN: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "欢", "阳",
    "建", "国", "志", "文", "博", "轩", "晨", "峰",
];
pub const FEMALE_GIVEN: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "桂", "英", "婷", "雪", "慧", "燕",
    "倩", "莹", "琳", "颖", "洁", "佳", "欣", "怡", "萍", "红", "月", "梅", "璐", "琪", "晶", "丹",
    "蕾", "薇", "雯", "妍", "思", "雨", "梓", "涵",
];

/// A city: name, 4-digit administrative prefix, tier (1 = 北上广深), sampling weight.
pub struct City {
    pub name: &'static str,
    pub prefix: u32,
    pub tier: u8,
    pub weight: u32,
}

pub const CITIES: &[City] = &[
    City {
        name: "北京",
        prefix: 1101,
        tier: 1,
        weight: 9,
    },
    City {
        name: "上海",
        prefix: 3101,
        tier: 1,
        weight: 10,
    },
    City {
        name: "广州",
        prefix: 4401,
        tier: 1,
        weight: 8,
    },
    City {
        name: "深圳",
        prefix: 4403,
        tier: 1,
        weight: 8,
    },
    City {
        name: "杭州",
        prefix: 3301,
        tier: 2,
        weight: 6,
    },
    City {
        name: "成都",
        prefix: 5101,
        tier: 2,
        weight: 7,
    },
    City {
        name: "武汉",
        prefix: 4201,
        tier: 2,
        weight: 6,
    },
    City {
        name: "南京",
        prefix: 3201,
        tier: 2,
        weight: 5,
    },
    City {
        name: "西安",
        prefix: 6101,
        tier: 2,
        weight: 5,
    },
    City {
        name: "重庆",
        prefix: 5001,
        tier: 2,
        weight: 7,
    },
    City {
        name: "天津",
        prefix: 1201,
        tier: 2,
        weight: 5,
    },
    City {
        name: "苏州",
        prefix: 3205,
        tier: 2,
        weight: 5,
    },
    City {
        name: "郑州",
        prefix: 4101,
        tier: 2,
        weight: 4,
    },
    City {
        name: "长沙",
        prefix: 4301,
        tier: 2,
        weight: 4,
    },
    City {
        name: "青岛",
        prefix: 3702,
        tier: 3,
        weight: 3,
    },
    City {
        name: "沈阳",
        prefix: 2101,
        tier: 3,
        weight: 3,
    },
    City {
        name: "厦门",
        prefix: 3502,
        tier: 3,
        weight: 2,
    },
    City {
        name: "昆明",
        prefix: 5301,
        tier: 3,
        weight: 3,
    },
    City {
        name: "哈尔滨",
        prefix: 2301,
        tier: 3,
        weight: 2,
    },
    City {
        name: "合肥",
        prefix: 3401,
        tier: 3,
        weight: 3,
    },
];
/// District suffixes appended to a city prefix to make a 6-digit area code (20 × 5 = 100 areas).
pub const DISTRICTS: [u32; 5] = [2, 3, 4, 5, 6];

pub const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
];

pub const EMPLOYERS: &[&str] = &[
    "华为技术有限公司",
    "深圳市腾讯计算机系统有限公司",
    "阿里巴巴（中国）有限公司",
    "国网供电公司",
    "中国石化销售有限公司",
    "比亚迪股份有限公司",
    "美的集团股份有限公司",
    "京东物流有限公司",
    "中国移动通信集团",
    "市第一人民医院",
    "区教育局",
    "顺丰速运有限公司",
    "海尔集团",
    "本地餐饮管理有限公司",
    "市城市建设投资集团",
];

/// Merchant: name, MCC, median ticket in yuan.
pub const MERCHANTS: &[(&str, &str, f64)] = &[
    ("华润万家超市", "5411", 160.0),
    ("永辉超市", "5411", 120.0),
    ("美团外卖", "5814", 38.0),
    ("海底捞火锅", "5812", 260.0),
    ("星巴克咖啡", "5814", 36.0),
    ("中国石化加油站", "5541", 300.0),
    ("京东商城", "5999", 220.0),
    ("天猫商城", "5999", 180.0),
    ("滴滴出行", "4121", 32.0),
    ("携程旅行", "4722", 900.0),
    ("万达影城", "7832", 90.0),
    ("大参林药房", "5912", 85.0),
    ("苏宁易购电器", "5732", 1500.0),
    ("银泰百货", "5311", 450.0),
    ("丝芙兰化妆品", "5977", 380.0),
    ("新东方培训", "8220", 2800.0),
];
pub const BILLERS: &[(&str, f64)] = &[
    ("国网电费", 180.0),
    ("自来水费", 60.0),
    ("燃气费", 90.0),
    ("中国移动话费", 100.0),
    ("物业管理费", 320.0),
    ("宽带费", 120.0),
];
pub const COMPETITOR_BANKS: &[&str] = &[
    "招商银行",
    "平安银行",
    "微众银行",
    "网商银行",
    "中信银行",
    "浦发银行",
];
pub const PAGES: &[&str] = &[
    "首页",
    "账户总览",
    "转账汇款",
    "理财频道",
    "信用卡中心",
    "贷款专区",
    "基金超市",
    "我的",
];
pub const SEARCH_TERMS: &[&str] = &[
    "理财",
    "基金定投",
    "房贷利率",
    "信用卡额度",
    "大额存单",
    "养老金",
    "黄金",
];
pub const COMPLAINTS: &[&str] = &[
    "手机银行转账多次失败",
    "信用卡年费未告知就扣款",
    "理财收益与宣传不符",
    "网点排队时间太长",
    "客服电话一直打不通",
    "贷款提前还款手续费过高",
    "短信通知重复扣费",
];
pub const SERVICE_TOPICS: &[&str] = &[
    "查询账单",
    "挂失银行卡",
    "修改预留手机号",
    "咨询贷款进度",
    "开通网银",
];

/// A product of the catalogue.
pub struct Product {
    pub id: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub category: &'static str,
    /// 1–5 for R1–R5.
    pub risk: u8,
    pub min_yuan: i64,
    pub rate_bp: Option<i64>,
    pub launch: (i32, u32, u32),
}

#[allow(clippy::too_many_arguments)] // a positional table row reads best here
const fn p(
    id: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    category: &'static str,
    risk: u8,
    min_yuan: i64,
    rate_bp: Option<i64>,
    launch: (i32, u32, u32),
) -> Product {
    Product {
        id,
        name_zh,
        name_en,
        category,
        risk,
        min_yuan,
        rate_bp,
        launch,
    }
}

pub const PRODUCTS: &[Product] = &[
    p(
        "P001",
        "活期储蓄",
        "Demand savings deposit",
        "deposit",
        1,
        0,
        Some(10),
        (2000, 1, 1),
    ),
    p(
        "P002",
        "一年期整存整取",
        "1-year time deposit",
        "time_deposit",
        1,
        50,
        Some(145),
        (2000, 1, 1),
    ),
    p(
        "P003",
        "三年期整存整取",
        "3-year time deposit",
        "time_deposit",
        1,
        50,
        Some(175),
        (2000, 1, 1),
    ),
    p(
        "P004",
        "大额存单",
        "Large-denomination certificate of deposit",
        "time_deposit",
        1,
        200_000,
        Some(190),
        (2015, 6, 15),
    ),
    p(
        "P005",
        "安享固收理财",
        "Secure fixed-income wealth product",
        "wealth",
        2,
        10_000,
        Some(280),
        (2019, 3, 1),
    ),
    p(
        "P006",
        "稳健增利理财",
        "Steady-growth wealth product",
        "wealth",
        3,
        10_000,
        Some(340),
        (2019, 3, 1),
    ),
    p(
        "P007",
        "进取多元理财",
        "Aggressive multi-asset wealth product",
        "wealth",
        4,
        50_000,
        Some(450),
        (2020, 7, 1),
    ),
    p(
        "P008",
        "天天宝货币基金",
        "Money-market fund",
        "fund",
        1,
        1,
        Some(160),
        (2014, 1, 6),
    ),
    p(
        "P009",
        "稳健债券基金",
        "Bond fund",
        "fund",
        3,
        1_000,
        None,
        (2016, 4, 1),
    ),
    p(
        "P010",
        "均衡混合基金",
        "Balanced hybrid fund",
        "fund",
        4,
        1_000,
        None,
        (2018, 9, 1),
    ),
    p(
        "P011",
        "沪深300指数基金",
        "CSI 300 index fund",
        "fund",
        5,
        1_000,
        None,
        (2012, 5, 28),
    ),
    p(
        "P012",
        "百万医疗险",
        "Medical insurance",
        "insurance",
        1,
        300,
        None,
        (2017, 1, 1),
    ),
    p(
        "P013",
        "增额终身寿险",
        "Increasing whole-life insurance",
        "insurance",
        2,
        10_000,
        Some(250),
        (2020, 1, 1),
    ),
    p(
        "P014",
        "标准信用卡",
        "Standard credit card",
        "credit_card",
        1,
        0,
        None,
        (2005, 1, 1),
    ),
    p(
        "P015",
        "白金信用卡",
        "Platinum credit card",
        "credit_card",
        1,
        0,
        None,
        (2010, 1, 1),
    ),
    p(
        "P016",
        "个人消费贷",
        "Personal consumer loan",
        "consumer_loan",
        1,
        10_000,
        Some(420),
        (2016, 1, 1),
    ),
    p(
        "P017",
        "个人住房按揭贷款",
        "Residential mortgage",
        "mortgage",
        1,
        300_000,
        Some(355),
        (2000, 1, 1),
    ),
    p(
        "P018",
        "积存金",
        "Gold accumulation plan",
        "gold",
        4,
        500,
        None,
        (2014, 1, 1),
    ),
    p(
        "P019",
        "个人养老金账户",
        "Private pension account",
        "pension",
        2,
        1,
        None,
        (2022, 11, 25),
    ),
    p(
        "P020",
        "少儿教育金保险",
        "Children's education insurance",
        "insurance",
        1,
        5_000,
        Some(200),
        (2018, 6, 1),
    ),
];

pub fn product_index(id: &str) -> usize {
    PRODUCTS.iter().position(|p| p.id == id).unwrap_or(0)
}

/// An offer: id, product, name, value to the bank if accepted (yuan), cost per contact (分).
pub struct Offer {
    pub id: &'static str,
    pub product: &'static str,
    pub name: &'static str,
    pub value_yuan: i64,
    pub cost_fen: i64,
}

pub const OFFERS: &[Offer] = &[
    Offer {
        id: "O001",
        product: "P014",
        name: "信用卡首刷礼",
        value_yuan: 600,
        cost_fen: 50,
    },
    Offer {
        id: "O002",
        product: "P002",
        name: "一年定期加息券",
        value_yuan: 300,
        cost_fen: 20,
    },
    Offer {
        id: "O003",
        product: "P005",
        name: "理财新客专享",
        value_yuan: 800,
        cost_fen: 300,
    },
    Offer {
        id: "O004",
        product: "P016",
        name: "消费贷利率八折",
        value_yuan: 1200,
        cost_fen: 30,
    },
    Offer {
        id: "O005",
        product: "P001",
        name: "手机银行绑卡礼",
        value_yuan: 50,
        cost_fen: 10,
    },
    Offer {
        id: "O006",
        product: "P009",
        name: "基金定投费率一折",
        value_yuan: 200,
        cost_fen: 10,
    },
];

/// A historical campaign. Its dates are placed at `frac` of the history window.
pub struct CampaignSpec {
    pub id: &'static str,
    pub name: &'static str,
    pub offer: usize,
    pub main_channel: &'static str,
    /// Contact channels the campaign may use; each contact uses one the customer consented to.
    pub channels: &'static [&'static str],
    pub frac: f64,
    pub budget_yuan: i64,
}

pub const CAMPAIGNS: &[CampaignSpec] = &[
    CampaignSpec {
        id: "CP001",
        name: "信用卡首刷礼",
        offer: 0,
        main_channel: "app_push",
        channels: &["app_push", "wechat", "sms"],
        frac: 0.15,
        budget_yuan: 500_000,
    },
    CampaignSpec {
        id: "CP002",
        name: "定期存款加息季",
        offer: 1,
        main_channel: "sms",
        channels: &["sms", "call"],
        frac: 0.35,
        budget_yuan: 300_000,
    },
    CampaignSpec {
        id: "CP003",
        name: "理财新客专享外呼",
        offer: 2,
        main_channel: "call",
        channels: &["call", "wechat"],
        frac: 0.55,
        budget_yuan: 800_000,
    },
    CampaignSpec {
        id: "CP004",
        name: "消费贷利率优惠",
        offer: 3,
        main_channel: "app_push",
        channels: &["app_push", "wechat", "sms"],
        frac: 0.75,
        budget_yuan: 400_000,
    },
];
/// Campaign length in days.
pub const CAMPAIGN_DAYS: i32 = 28;
/// Share of eligible customers drawn into a campaign's audience.
pub const AUDIENCE_SHARE: f64 = 0.5;
/// Group split inside an audience.
pub const HOLDOUT_SHARE: f64 = 0.10;
pub const CONTROL_SHARE: f64 = 0.20;

pub const EXPERIMENT_ID: &str = "EXP001";
pub const EXPERIMENT_NAME: &str = "手机银行首页横幅实验";
pub const EXPERIMENT_ARMS: [&str; 3] = ["control", "banner_a", "banner_b"];
/// Planted click probability per arm within the experiment's 28 days.
pub const EXPERIMENT_CLICK: [f64; 3] = [0.03, 0.045, 0.06];
pub const EXPERIMENT_FRAC: f64 = 0.62;
/// Share of eligible (digital, active) customers assigned to the experiment.
pub const EXPERIMENT_SHARE: f64 = 0.4;
