//! Identity resolution: customer records from different channels that share a normalised
//! phone, resident ID, e-mail, card number (or other identifier) are one person.
//!
//! Union-find over records; every shared identifier unions the records that carry it.
//! Identifiers were already normalised on ingest, so equal means equal.

use crate::IngestError;
use crate::keys::{KeyMap, batch_files, hash_key};
use arrow::array::{Array, AsArray, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use zhiying_core::DataDir;
use zhiying_core::schema::{CUSTOMERS, ID_TYPES, IDENTITIES, TableDef};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySummary {
    /// Customer records considered.
    pub records: u64,
    /// Distinct people (golden ids) after resolution.
    pub parties: u64,
    /// Records that belong to a party of two or more records.
    pub merged_records: u64,
}

#[derive(Default)]
struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }
}

#[derive(Default)]
struct Records {
    ids: Vec<String>,
    is_core: Vec<bool>,
    index: HashMap<String, u32>,
    /// Bit per `ID_TYPES` entry: the identifier kinds that linked the record to another.
    matched: Vec<u8>,
    uf: UnionFind,
    /// (kind, value) hash → first record carrying it.
    first: KeyMap<u32>,
}

impl Records {
    fn record(&mut self, id: &str, core: bool) -> u32 {
        if let Some(&i) = self.index.get(id) {
            self.is_core[i as usize] |= core;
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.is_core.push(core);
        self.matched.push(0);
        self.uf.parent.push(i);
        self.index.insert(id.to_string(), i);
        i
    }

    fn identifier(&mut self, rec: u32, kind: usize, value: &str, buf: &mut Vec<u8>) {
        buf.clear();
        buf.push(kind as u8);
        buf.extend_from_slice(value.as_bytes());
        let h = hash_key(buf);
        match self.first.get(&h) {
            Some(&other) if other != rec => {
                self.uf.union(other, rec);
                self.matched[other as usize] |= 1 << kind;
                self.matched[rec as usize] |= 1 << kind;
            }
            Some(_) => {}
            None => {
                self.first.insert(h, rec);
            }
        }
    }
}

/// Reads `columns` of every stored batch of `table`, calling `f` per batch with the
/// columns as strings (absent or non-text columns come back as `None`).
fn scan(
    data_dir: &DataDir,
    table: &TableDef,
    columns: &[&str],
    mut f: impl FnMut(&[Option<&StringArray>], usize),
) -> Result<(), IngestError> {
    for path in batch_files(data_dir, table.name)? {
        let b = zhiying_keyring::open_reader(&path).map_err(|e| IngestError::parquet(&path, e))?;
        let idx: Vec<usize> = columns
            .iter()
            .filter_map(|c| b.schema().index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(b.parquet_schema(), idx);
        for batch in b
            .with_projection(mask)
            .build()
            .map_err(|e| IngestError::parquet(&path, e))?
        {
            let batch = batch.map_err(|e| IngestError::arrow(&path, e))?;
            let cols: Vec<Option<&StringArray>> = columns
                .iter()
                .map(|c| {
                    batch
                        .column_by_name(c)
                        .and_then(|a| a.as_string_opt::<i32>())
                })
                .collect();
            f(&cols, batch.num_rows());
        }
    }
    Ok(())
}

fn get(a: Option<&StringArray>, r: usize) -> Option<&str> {
    a.filter(|a| !a.is_null(r))
        .map(|a| a.value(r))
        .filter(|s| !s.is_empty())
}

/// Links customer records into parties and writes `DataDir::derived("customer_links")`
/// (customer_id, party_id, matched_on). The party id is the record's golden id: a `core`
/// record's id if the party has one, else the smallest id.
pub fn resolve_identities(data_dir: &DataDir) -> Result<IdentitySummary, IngestError> {
    let kind = |k: &str| ID_TYPES.iter().position(|t| *t == k);
    let mut recs = Records::default();
    let mut buf = Vec::new();
    let cust_ids = ["phone", "resident_id", "email"].map(|k| kind(k).unwrap_or(0));
    scan(
        data_dir,
        &CUSTOMERS,
        &[
            "customer_id",
            "source_system",
            "phone",
            "resident_id",
            "email",
        ],
        |c, n| {
            for r in 0..n {
                let Some(id) = get(c[0], r) else { continue };
                let rec = recs.record(id, get(c[1], r) == Some("core"));
                for (j, &k) in cust_ids.iter().enumerate() {
                    if let Some(v) = get(c[2 + j], r) {
                        recs.identifier(rec, k, v, &mut buf);
                    }
                }
            }
        },
    )?;
    scan(
        data_dir,
        &IDENTITIES,
        &["customer_id", "id_type", "id_value"],
        |c, n| {
            for r in 0..n {
                let (Some(id), Some(t), Some(v)) = (get(c[0], r), get(c[1], r), get(c[2], r))
                else {
                    continue;
                };
                let Some(k) = kind(t) else { continue };
                let rec = recs.record(id, false);
                recs.identifier(rec, k, v, &mut buf);
            }
        },
    )?;

    let n = recs.ids.len();
    let roots: Vec<u32> = (0..n as u32).map(|i| recs.uf.find(i)).collect();
    // Golden record per root: core first, then the smallest id.
    let mut golden: HashMap<u32, u32> = HashMap::new();
    let mut size: HashMap<u32, u64> = HashMap::new();
    for (i, &root) in roots.iter().enumerate() {
        *size.entry(root).or_default() += 1;
        let g = golden.entry(root).or_insert(i as u32);
        let gi = *g as usize;
        if (!recs.is_core[i], &recs.ids[i]) < (!recs.is_core[gi], &recs.ids[gi]) {
            *g = i as u32;
        }
    }

    let mut cid = StringBuilder::with_capacity(n, n * 12);
    let mut pid = StringBuilder::with_capacity(n, n * 12);
    let mut how = StringBuilder::with_capacity(n, n * 8);
    let mut merged = 0u64;
    for i in 0..n {
        cid.append_value(&recs.ids[i]);
        pid.append_value(&recs.ids[golden[&roots[i]] as usize]);
        if size[&roots[i]] > 1 {
            merged += 1;
        }
        let m = recs.matched[i];
        if m == 0 {
            how.append_null();
        } else {
            let kinds: Vec<&str> = ID_TYPES
                .iter()
                .enumerate()
                .filter(|(k, _)| m & (1 << k) != 0)
                .map(|(_, t)| *t)
                .collect();
            how.append_value(kinds.join(","));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("party_id", DataType::Utf8, false),
        Field::new("matched_on", DataType::Utf8, true),
    ]));
    let path = data_dir.derived("customer_links");
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(cid.finish()),
            Arc::new(pid.finish()),
            Arc::new(how.finish()),
        ],
    )
    .map_err(|e| IngestError::arrow(&path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
    }
    let tmp = path.with_extension("parquet.tmp");
    let f = std::fs::File::create(&tmp).map_err(|e| IngestError::io(&tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .build();
    let mut w =
        ArrowWriter::try_new(f, schema, Some(props)).map_err(|e| IngestError::parquet(&tmp, e))?;
    w.write(&batch).map_err(|e| IngestError::parquet(&tmp, e))?;
    w.close().map_err(|e| IngestError::parquet(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| IngestError::io(&path, e))?;
    Ok(IdentitySummary {
        records: n as u64,
        parties: golden.len() as u64,
        merged_records: merged,
    })
}
