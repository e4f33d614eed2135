//! The audience index: every customer as a dense `u32` (its row in `tags.parquet`), and
//! per tag, product and event type the structure that answers a predicate fastest.
//!
//! * categorical tag → one roaring bitmap per code;
//! * flag → a bitmap of trues and one of falses;
//! * numeric → the column itself (for columnar scans) plus `(value, id)` sorted by value,
//!   so a range is two binary searches; small ranges become bitmaps from their ids, large
//!   ones from a columnar scan into a bitset (whichever touches less memory);
//! * product → a bitmap of active holders; product category → the union of its products;
//! * event type → per customer, that customer's event times in order (CSR). "At least k
//!   events since t" is then one comparison per customer, `times[end - k] >= t`.
//!
//! `not` is the complement within all customers, so a customer with a null value is in
//! `not (age > 30)` but in neither `age > 30` nor `age <= 30`.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::meta::{CodeLabel, TagKind, TagMeta, TagsMeta};

/// Marks a null in a categorical column given to the builder.
pub const NULL_CODE: u32 = u32::MAX;

/// A tag column handed to [`IndexBuilder`].
#[derive(Debug, Clone)]
pub enum TagValues {
    /// `dict[codes[i]]` is customer i's code; [`NULL_CODE`] is null.
    Categorical {
        dict: Vec<String>,
        codes: Vec<u32>,
    },
    /// NaN is null.
    Numeric(Vec<f64>),
    Flag(Vec<Option<bool>>),
}

impl TagValues {
    pub fn len(&self) -> usize {
        match self {
            TagValues::Categorical { codes, .. } => codes.len(),
            TagValues::Numeric(v) => v.len(),
            TagValues::Flag(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn kind(&self) -> TagKind {
        match self {
            TagValues::Categorical { .. } => TagKind::Categorical,
            TagValues::Numeric(_) => TagKind::Numeric,
            TagValues::Flag(_) => TagKind::Flag,
        }
    }
}

/// The evaluation structure of one tag.
#[derive(Debug)]
pub(crate) enum TagIndex {
    Categorical {
        /// Codes: those declared in the metadata first, in order, then any others found.
        codes: Vec<CodeLabel>,
        bitmaps: Vec<RoaringBitmap>,
        non_null: RoaringBitmap,
    },
    Numeric {
        /// By customer id; NaN is null.
        values: Vec<f64>,
        /// Customers with a value, ordered by value (ties by id): a range query is two
        /// binary searches through `values[sorted_ids[i]]`. Values are not copied beside
        /// the ids, which halves the tag's memory (8 MB per numeric tag at 1M customers).
        sorted_ids: Vec<u32>,
        non_null: RoaringBitmap,
    },
    Flag {
        trues: RoaringBitmap,
        falses: RoaringBitmap,
    },
}

impl TagIndex {
    pub(crate) fn kind(&self) -> TagKind {
        match self {
            TagIndex::Categorical { .. } => TagKind::Categorical,
            TagIndex::Numeric { .. } => TagKind::Numeric,
            TagIndex::Flag { .. } => TagKind::Flag,
        }
    }
    pub(crate) fn non_null(&self) -> RoaringBitmap {
        match self {
            TagIndex::Categorical { non_null, .. } | TagIndex::Numeric { non_null, .. } => {
                non_null.clone()
            }
            TagIndex::Flag { trues, falses } => trues | falses,
        }
    }
    /// Whether customer `c` has a value, without building a bitmap.
    pub(crate) fn has_value(&self, c: u32) -> bool {
        match self {
            TagIndex::Categorical { non_null, .. } | TagIndex::Numeric { non_null, .. } => {
                non_null.contains(c)
            }
            TagIndex::Flag { trues, falses } => trues.contains(c) || falses.contains(c),
        }
    }
}

/// Per event type: each customer's event times, ascending, in one flat array.
#[derive(Debug)]
pub(crate) struct EventIndex {
    pub(crate) name: String,
    /// `times[offsets[c]..offsets[c + 1]]` are customer c's event times (UTC µs).
    pub(crate) offsets: Vec<u32>,
    pub(crate) times: Vec<i64>,
    /// Each customer's latest event at or before `as_of` (`i64::MIN`: none), so "at least
    /// one event in the last N days" is one sequential scan of 8 bytes per customer.
    pub(crate) last: Vec<i64>,
}

/// Everything an expression is evaluated against. Build it with [`IndexBuilder`] or load
/// it from a data directory with [`crate::load_index`].
#[derive(Debug)]
pub struct AudienceIndex {
    pub(crate) customer_ids: Vec<String>,
    pub(crate) meta: Vec<TagMeta>,
    pub(crate) tags: Vec<TagIndex>,
    pub(crate) tag_by_key: HashMap<String, usize>,
    pub(crate) products: Vec<String>,
    pub(crate) product_holders: Vec<RoaringBitmap>,
    pub(crate) product_by_id: HashMap<String, usize>,
    pub(crate) categories: Vec<String>,
    pub(crate) category_holders: Vec<RoaringBitmap>,
    pub(crate) events: Vec<EventIndex>,
    pub(crate) universe: RoaringBitmap,
    /// "In the last N days" counts back from here (UTC µs).
    pub(crate) as_of: i64,
    pub(crate) as_of_text: Option<String>,
    /// Whether `customer_ids` is sorted (it is when loaded from tags.parquet), so
    /// [`AudienceIndex::position`] can binary-search.
    pub(crate) ids_sorted: bool,
}

/// A summary of what an index holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IndexStats {
    pub customers: usize,
    pub tags: usize,
    pub products: usize,
    pub product_categories: usize,
    pub event_types: usize,
    pub events: usize,
    pub bitmaps: usize,
    /// Approximate heap bytes of the index (bitmaps, columns, event arrays).
    pub approx_bytes: usize,
    pub as_of: Option<String>,
}

impl AudienceIndex {
    /// Number of customers (the universe `not` complements within).
    pub fn customers(&self) -> u32 {
        self.customer_ids.len() as u32
    }
    /// The customer id of a dense id.
    pub fn customer_id(&self, id: u32) -> Option<&str> {
        self.customer_ids.get(id as usize).map(String::as_str)
    }
    /// A numeric tag's value per dense customer id (NaN = no value), e.g. as clustering
    /// features; `None` when the tag is unknown or not numeric.
    pub fn numeric_values(&self, key: &str) -> Option<&[f64]> {
        match &self.tags[*self.tag_by_key.get(key)?] {
            TagIndex::Numeric { values, .. } => Some(values),
            _ => None,
        }
    }
    /// The dense id of a customer id (binary search on a loaded index).
    pub fn position(&self, customer_id: &str) -> Option<u32> {
        if self.ids_sorted {
            self.customer_ids
                .binary_search_by(|c| c.as_str().cmp(customer_id))
                .ok()
                .map(|i| i as u32)
        } else {
            self.customer_ids
                .iter()
                .position(|c| c == customer_id)
                .map(|i| i as u32)
        }
    }
    /// The tag catalogue as loaded (metadata for every usable tag, categorical codes
    /// completed with any code found in the data).
    pub fn tags(&self) -> &[TagMeta] {
        &self.meta
    }
    pub fn universe(&self) -> &RoaringBitmap {
        &self.universe
    }
    pub fn as_of_micros(&self) -> i64 {
        self.as_of
    }
    pub fn product_ids(&self) -> &[String] {
        &self.products
    }
    pub fn product_categories(&self) -> &[String] {
        &self.categories
    }
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| e.name.as_str())
    }

    pub fn stats(&self) -> IndexStats {
        let mut bitmaps = 0;
        let mut bytes = self
            .customer_ids
            .iter()
            .map(|s| s.len() + 24)
            .sum::<usize>();
        let mut add = |b: &RoaringBitmap| {
            bitmaps += 1;
            b.serialized_size()
        };
        for t in &self.tags {
            match t {
                TagIndex::Categorical {
                    bitmaps: bs,
                    non_null,
                    ..
                } => {
                    bytes += bs.iter().map(&mut add).sum::<usize>() + add(non_null);
                }
                TagIndex::Numeric {
                    values, non_null, ..
                } => bytes += values.len() * 12 + add(non_null),
                TagIndex::Flag { trues, falses } => bytes += add(trues) + add(falses),
            }
        }
        for b in self.product_holders.iter().chain(&self.category_holders) {
            bytes += add(b);
        }
        let events: usize = self.events.iter().map(|e| e.times.len()).sum();
        bytes += events * 8 + self.events.len() * 12 * (self.customer_ids.len() + 1);
        IndexStats {
            customers: self.customer_ids.len(),
            tags: self.tags.len(),
            products: self.products.len(),
            product_categories: self.categories.len(),
            event_types: self.events.len(),
            events,
            bitmaps,
            approx_bytes: bytes,
            as_of: self.as_of_text.clone(),
        }
    }
}

/// Builds an [`AudienceIndex`] from columns, holdings and events already in memory.
/// [`crate::load_index`] feeds it from Parquet; tests feed it directly.
pub struct IndexBuilder {
    customer_ids: Vec<String>,
    tags: Vec<(TagMeta, TagValues)>,
    holdings: Vec<(u32, String)>,
    product_category: HashMap<String, String>,
    events: HashMap<String, Vec<(u32, i64)>>,
    as_of: Option<i64>,
    as_of_text: Option<String>,
}

impl IndexBuilder {
    pub fn new(customer_ids: Vec<String>) -> Self {
        IndexBuilder {
            customer_ids,
            tags: Vec::new(),
            holdings: Vec::new(),
            product_category: HashMap::new(),
            events: HashMap::new(),
            as_of: None,
            as_of_text: None,
        }
    }
    pub fn customers(&self) -> usize {
        self.customer_ids.len()
    }
    /// Adds a tag; `values.len()` must equal the number of customers.
    pub fn tag(&mut self, meta: TagMeta, values: TagValues) -> &mut Self {
        self.tags.push((meta, values));
        self
    }
    /// Records that customer `id` actively holds `product`.
    pub fn holding(&mut self, id: u32, product: &str) -> &mut Self {
        self.holdings.push((id, product.to_string()));
        self
    }
    /// Declares a product and its category (`fund`, `wealth`, …).
    pub fn product(&mut self, product: &str, category: &str) -> &mut Self {
        self.product_category
            .insert(product.to_string(), category.to_string());
        self
    }
    /// Records one event of `event_type` by customer `id` at `ts` (UTC µs).
    pub fn event(&mut self, id: u32, event_type: &str, ts: i64) -> &mut Self {
        if let Some(v) = self.events.get_mut(event_type) {
            v.push((id, ts));
        } else {
            self.events.insert(event_type.to_string(), vec![(id, ts)]);
        }
        self
    }
    /// Records many events of one type at once (what the Parquet loader does).
    pub fn events(&mut self, event_type: &str, pairs: Vec<(u32, i64)>) -> &mut Self {
        match self.events.get_mut(event_type) {
            Some(v) => v.extend(pairs),
            None => {
                self.events.insert(event_type.to_string(), pairs);
            }
        }
        self
    }
    /// The instant "the last N days" counts back from; defaults to the latest event.
    pub fn as_of(&mut self, micros: i64, text: Option<String>) -> &mut Self {
        self.as_of = Some(micros);
        self.as_of_text = text;
        self
    }
    /// Applies the `as_of` of a metadata file if it has one.
    pub fn meta_as_of(&mut self, meta: &TagsMeta) -> &mut Self {
        if let Some(t) = meta.as_of_micros() {
            self.as_of(t, meta.as_of.clone());
        }
        self
    }

    /// Builds the index. Fails if a column's length differs from the customer count.
    pub fn build(self) -> Result<AudienceIndex, crate::AudienceError> {
        let n = self.customer_ids.len();
        if n as u64 > u32::MAX as u64 {
            return Err(crate::AudienceError::Invalid(format!(
                "{n} customers is more than 32-bit ids can address"
            )));
        }
        let mut universe = RoaringBitmap::new();
        universe.insert_range(0..n as u32);
        let mut meta = Vec::new();
        let mut tags = Vec::new();
        let mut tag_by_key = HashMap::new();
        for (mut m, values) in self.tags {
            if values.len() != n {
                return Err(crate::AudienceError::Invalid(format!(
                    "tag `{}` has {} values for {n} customers",
                    m.key,
                    values.len()
                )));
            }
            m.kind = values.kind();
            let idx = match values {
                TagValues::Categorical { dict, codes } => build_categorical(&mut m, dict, &codes),
                TagValues::Numeric(values) => build_numeric(values),
                TagValues::Flag(values) => {
                    let ids_where = |want: bool| {
                        RoaringBitmap::from_sorted_iter(
                            values
                                .iter()
                                .enumerate()
                                .filter(move |(_, v)| **v == Some(want))
                                .map(|(i, _)| i as u32),
                        )
                        .unwrap_or_default()
                    };
                    let (trues, falses) = (ids_where(true), ids_where(false));
                    TagIndex::Flag { trues, falses }
                }
            };
            tag_by_key.insert(m.key.clone(), tags.len());
            meta.push(m);
            tags.push(idx);
        }

        // Products: every declared product plus any product someone holds.
        let mut products: Vec<String> = self.product_category.keys().cloned().collect();
        for (_, p) in &self.holdings {
            if !self.product_category.contains_key(p) {
                products.push(p.clone());
            }
        }
        products.sort();
        products.dedup();
        let product_by_id: HashMap<String, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        let mut holders: Vec<Vec<u32>> = vec![Vec::new(); products.len()];
        for (id, p) in &self.holdings {
            if let Some(&i) = product_by_id.get(p) {
                holders[i].push(*id);
            }
        }
        let product_holders: Vec<RoaringBitmap> = holders
            .into_iter()
            .map(|mut ids| {
                ids.sort_unstable();
                ids.dedup();
                RoaringBitmap::from_sorted_iter(ids).unwrap_or_default()
            })
            .collect();
        let mut categories: Vec<String> = zhiying_core::schema::PRODUCT_CATEGORIES
            .iter()
            .map(|s| s.to_string())
            .chain(self.product_category.values().cloned())
            .collect();
        categories.sort();
        categories.dedup();
        let mut category_holders = vec![RoaringBitmap::new(); categories.len()];
        for (p, c) in &self.product_category {
            if let (Ok(ci), Some(&pi)) = (categories.binary_search(c), product_by_id.get(p)) {
                category_holders[ci] |= &product_holders[pi];
            }
        }

        // Events: counting sort by customer, then each customer's times in order.
        let mut latest = i64::MIN;
        let mut names: Vec<String> = zhiying_core::schema::EVENT_TYPES
            .iter()
            .map(|s| s.to_string())
            .chain(self.events.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        let mut source = self.events;
        let mut events = Vec::with_capacity(names.len());
        for name in names {
            let pairs = source.remove(&name).unwrap_or_default();
            let mut offsets = vec![0u32; n + 1];
            for &(id, ts) in &pairs {
                if (id as usize) < n {
                    offsets[id as usize + 1] += 1;
                    latest = latest.max(ts);
                }
            }
            for i in 0..n {
                offsets[i + 1] += offsets[i];
            }
            let mut fill = offsets.clone();
            let mut times = vec![0i64; offsets[n] as usize];
            for &(id, ts) in &pairs {
                if (id as usize) < n {
                    let slot = &mut fill[id as usize];
                    times[*slot as usize] = ts;
                    *slot += 1;
                }
            }
            for c in 0..n {
                let s = &mut times[offsets[c] as usize..offsets[c + 1] as usize];
                if s.len() > 1 {
                    s.sort_unstable();
                }
            }
            events.push(EventIndex {
                name,
                offsets,
                times,
                last: Vec::new(),
            });
        }
        let as_of = self
            .as_of
            .unwrap_or(if latest == i64::MIN { 0 } else { latest });
        for e in &mut events {
            e.last = (0..n)
                .map(|c| {
                    let w = &e.times[e.offsets[c] as usize..e.offsets[c + 1] as usize];
                    let upto = w.partition_point(|&x| x <= as_of);
                    if upto == 0 { i64::MIN } else { w[upto - 1] }
                })
                .collect();
        }
        let as_of_text = self
            .as_of_text
            .or_else(|| chrono::DateTime::from_timestamp_micros(as_of).map(|t| t.to_rfc3339()));
        let ids_sorted = self.customer_ids.is_sorted();
        Ok(AudienceIndex {
            ids_sorted,
            customer_ids: self.customer_ids,
            meta,
            tags,
            tag_by_key,
            products,
            product_holders,
            product_by_id,
            categories,
            category_holders,
            events,
            universe,
            as_of,
            as_of_text,
        })
    }
}

fn build_categorical(m: &mut TagMeta, dict: Vec<String>, codes: &[u32]) -> TagIndex {
    // Declared codes keep their order and labels; codes only found in data are appended.
    let mut labels = m.values.clone();
    let mut pos: HashMap<String, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, c)| (c.code.clone(), i))
        .collect();
    let mut dict_to_label = Vec::with_capacity(dict.len());
    let mut extra: Vec<&String> = dict.iter().filter(|d| !pos.contains_key(*d)).collect();
    extra.sort();
    for d in extra {
        pos.insert(d.clone(), labels.len());
        labels.push(CodeLabel {
            code: d.clone(),
            zh: String::new(),
            en: String::new(),
        });
    }
    for d in &dict {
        dict_to_label.push(pos[d]);
    }
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); labels.len()];
    for (i, &c) in codes.iter().enumerate() {
        if c != NULL_CODE
            && let Some(&l) = dict_to_label.get(c as usize)
        {
            ids[l].push(i as u32);
        }
    }
    let non_null = crate::query::bitmap_from_predicate(codes.len(), |i| {
        codes[i] != NULL_CODE && (codes[i] as usize) < dict_to_label.len()
    });
    let bitmaps = ids
        .into_iter()
        .map(|v| RoaringBitmap::from_sorted_iter(v).unwrap_or_default())
        .collect();
    m.values = labels.clone();
    TagIndex::Categorical {
        codes: labels,
        bitmaps,
        non_null,
    }
}

fn build_numeric(values: Vec<f64>) -> TagIndex {
    // Sorting (value, id) pairs is cache-friendly; only the ids are kept.
    let mut pairs: Vec<(f64, u32)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .map(|(i, &v)| (v, i as u32))
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let sorted_ids = pairs.into_iter().map(|(_, id)| id).collect();
    let non_null = crate::query::bitmap_from_predicate(values.len(), |i| !values[i].is_nan());
    TagIndex::Numeric {
        values,
        sorted_ids,
        non_null,
    }
}
