#!/usr/bin/env python3
"""Deterministically generates labelled.jsonl: realistic bank texts with gold PII spans
(byte offsets into the UTF-8 text). Run: python3 crates/pii/tests/corpus/gen_corpus.py"""
import json, random, os

R = random.Random(20261126)
SUR = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋杜叶程魏苏吕丁卢姚沈钟姜崔谭陆范汪廖石金贾夏方邹熊白孟秦邱侯江尹薛段雷龙黎史陶贺毛郝顾龚邵万钱戴严莫孔汤康易乔赖施洪辛柯庄葛倪岳鲁牛温翟季齐梅骆童颜"
COMP = ["欧阳", "司马", "上官", "诸葛", "慕容", "司徒"]
GIV = "伟芳娜秀敏静丽强磊军洋勇艳杰涛明超霞平刚桂英华玉兰萍建红志忠海鹏辉玲晨浩宇欣怡子涵雨轩梓思博文俊峰嘉琪"
REG = ["110105", "310104", "440305", "330106", "510107", "420102", "320102", "370202", "620102", "210202"]

def cs(s):
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(a) * b for a, b in zip(s, w)) % 11]

def rid(valid=True):
    y = R.randint(1950, 2004); m = R.randint(1, 12); d = R.randint(1, 28)
    body = f"{R.choice(REG)}{y:04d}{m:02d}{d:02d}{R.randint(0,999):03d}"
    c = cs(body)
    if not valid:
        c = R.choice([x for x in "0123456789" if x != c])
    return body + c

def legacy_id():
    return f"{R.choice(REG)}{R.randint(50,99):02d}{R.randint(1,12):02d}{R.randint(1,28):02d}{R.randint(0,999):03d}"

def luhn_digit(s):
    t = 0
    for i, ch in enumerate(reversed(s)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            if v > 9: v -= 9
        t += v
    return str((10 - t % 10) % 10)

def card(valid=True):
    pre, n = R.choice([("622202", 19), ("622848", 19), ("621700", 19), ("622588", 16), ("4367", 16), ("5187", 16), ("4514", 16), ("6225", 16)])
    body = pre + "".join(R.choice("0123456789") for _ in range(n - len(pre) - 1))
    c = luhn_digit(body)
    if not valid:
        c = str((int(c) + R.randint(1, 9)) % 10)
    num = body + c
    if R.random() < 0.35:
        num = " ".join(num[i:i+4] for i in range(0, len(num), 4))
    return num

def mobile():
    n = "1" + R.choice("3456789") + "".join(R.choice("0123456789") for _ in range(9))
    r = R.random()
    if r < 0.15: return f"{n[:3]} {n[3:7]} {n[7:]}"
    if r < 0.25: return f"{n[:3]}-{n[3:7]}-{n[7:]}"
    if r < 0.32: return "+86 " + n
    if r < 0.36: return "+86" + n
    return n

def landline():
    a = R.choice(["010", "021", "020", "0755", "0571", "028", "027", "0512"])
    s = R.choice("2345678") + "".join(R.choice("0123456789") for _ in range(7 if len(a) == 3 else R.choice([6, 7])))
    return f"{a}-{s}"

def email():
    u = R.choice(["zhang.wei", "lily88", "wangfang2019", "chen_jie", "service.vip", "li.na", "hello"]) + str(R.randint(1, 99))
    return u + "@" + R.choice(["qq.com", "163.com", "gmail.com", "126.com", "bank-mail.cn", "sina.com.cn"])

def ip():
    if R.random() < 0.15: return R.choice(["2408:8207:1234::1", "fe80::1ff:fe23:4567:890a", "240e:3b0:9a4::25"])
    return f"{R.choice([10, 172, 192, 36, 113, 220])}.{R.randint(0,255)}.{R.randint(0,255)}.{R.randint(1,254)}"

def name():
    s = R.choice(COMP) if R.random() < 0.06 else R.choice(SUR)
    return s + "".join(R.choice(GIV) for _ in range(R.choice([1, 2, 2])))

def passport():
    return R.choice("EG") + "".join(R.choice("0123456789") for _ in range(8))

def permit():
    return "C" + "".join(R.choice("0123456789") for _ in range(8))

def address():
    p = R.choice([("北京市", ["朝阳区", "海淀区", "西城区"]), ("上海市", ["浦东新区", "徐汇区", "静安区"]),
                  ("广东省深圳市", ["南山区", "福田区"]), ("浙江省杭州市", ["西湖区", "滨江区"]),
                  ("四川省成都市", ["武侯区", "锦江区"]), ("江苏省南京市", ["鼓楼区", "玄武区"])])
    road = R.choice(["建国路", "中山路", "人民路", "科技园南路", "文三路", "解放大道", "长江路"])
    tail = R.choice([f"{R.randint(1,300)}号", f"{R.randint(1,300)}号{R.randint(1,20)}栋{R.randint(101,2505)}室",
                     f"{R.randint(1,99)}弄{R.randint(1,40)}号{R.randint(101,1202)}室", f"{R.randint(1,300)}号院{R.randint(1,9)}号楼"])
    return p[0] + R.choice(p[1]) + road + tail

NAME_CUE = ["客户", "客户姓名：", "户名：", "联系人", "收款人：", "持卡人", "尊敬的", "付款人", "申请人"]
TITLE = ["先生", "女士"]

# Each template: list of pieces; ("kind", generator) pieces are PII, strings are literal.
def negatives():
    return R.choice([
        f"订单号DD{R.randint(10**13, 10**14-1)}已发货",
        f"交易金额{R.randint(1,99999)}.{R.randint(10,99)}元",
        f"流水号{R.randint(10**19, 10**20-1)}",
        f"{R.randint(2019,2025)}-{R.randint(1,12):02d}-{R.randint(1,28):02d} {R.randint(0,23):02d}:{R.randint(0,59):02d}:{R.randint(0,59):02d}",
        "客户黄金账户余额充足", "客户经理将尽快回复", "客户高端理财需求", "请拨打客服热线95588",
        "全国服务热线400-820-8820", "客户方面表示理解", "客户余额不足", "黄金价格上涨", "周末网点正常营业",
        f"参考号{R.randint(10**17, 10**18-1)}", "版本号3.10.2已上线", "利率为3.85%", "张贴公告于营业厅",
        "马上为您处理", "余额宝转入失败", "白金卡年费减免", "北京时间上午十点", "上海银行网点",
        "钱包功能升级", "高级客户经理", "任何问题请联系我们", "方便的话请回电",
    ])

def sample():
    kinds = []
    t = R.random()
    if t < 0.12:
        return [("客户来电，身份证号", None), ("resident_id", rid()), ("，要求查询", None), ("", None), (negatives(), None)]
    if t < 0.18:
        return [("核验失败：证件号", None), (rid(False), None), ("校验位不符，", None), (negatives(), None)]
    if t < 0.21:
        return [("老系统登记的15位身份证", None), ("resident_id", legacy_id()), ("需升级", None)]
    if t < 0.32:
        return [(R.choice(["转账至卡号", "收款账号：", "卡号", "请核对银行卡"]), None), ("bank_card", card()), (R.choice(["，金额", "，附言房租", "。"]), None), (negatives(), None)]
    if t < 0.37:
        return [("卡号", None), (card(False), None), ("校验失败，请重新输入", None)]
    if t < 0.50:
        return [(R.choice(["客户手机", "联系电话：", "回拨", "客户留了号码", "Tel: "]), None), ("mobile", mobile()), (R.choice(["，请尽快联系", "。", " 下午方便"]), None)]
    if t < 0.55:
        return [(R.choice(["公司座机", "办公电话："]), None), ("landline", landline()), ("，工作日可联系", None)]
    if t < 0.60:
        return [(R.choice(["邮箱", "对账单发送至", "Please email "]), None), ("email", email()), (R.choice(["，谢谢", " for the statement."]), None)]
    if t < 0.64:
        return [("登录IP", None), ("ip_address", ip()), ("异常，已冻结网银", None)]
    if t < 0.68:
        return [(R.choice(["客户护照号码", "passport no. ", "护照："]), None), ("passport", passport()), ("已上传", None)]
    if t < 0.71:
        return [("港澳通行证", None), ("hk_macau_permit", permit()), ("有效期至2030年", None)]
    if t < 0.86:
        cue = R.choice(NAME_CUE)
        n = name()
        if cue == "尊敬的":
            return [(cue, None), ("person_name", n), (R.choice(TITLE) + "，您的账单已出", None)]
        return [(cue, None), ("person_name", n), (R.choice(["称卡片被盗刷", "，", "来电投诉", "于网点办理业务", "要求提高额度"]), None), (negatives(), None)]
    if t < 0.90:
        return [("此前联系过", None), ("person_name", name()), (R.choice(TITLE) + "，对方未接听", None)]
    if t < 0.96:
        return [(R.choice(["客户地址：", "寄到", "家住", "账单地址"]), None), ("address", address()), (R.choice(["，", "。"]), None), (negatives(), None)]
    return [(negatives(), None), ("，", None), (negatives(), None)]

def render(parts):
    text = b""
    spans = []
    for a, b in parts:
        if b is None:
            text += a.encode()
        else:
            s = len(text); text += b.encode()
            spans.append({"kind": a, "start": s, "end": len(text)})
    return text.decode(), spans

def line():
    # 1–3 clauses per line, like a short note or a chat turn.
    parts = []
    for k in range(R.choice([1, 2, 2, 3])):
        if k: parts.append((R.choice(["；", "。", "，另外", " | "]), None))
        parts.extend(sample())
    text, spans = render(parts)
    return {"text": text, "spans": spans}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "labelled.jsonl")
with open(out, "w") as f:
    for _ in range(400):
        f.write(json.dumps(line(), ensure_ascii=False) + "\n")
print("wrote", out)
