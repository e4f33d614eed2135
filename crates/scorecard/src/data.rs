//! The plain-slice inputs every algorithm here works on.
//!
//! Numeric values are `f64` with `NaN` as missing; categorical values are `u32` codes into a
//! level list, with [`MISSING_CODE`] as missing. Targets are `bool` with `true` = bad (the
//! event being predicted: default, churn, response).

/// The categorical code that means "missing".
pub const MISSING_CODE: u32 = u32::MAX;

/// One input variable, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Feature<'a> {
    /// Numeric values; `NaN` is missing.
    Numeric(&'a [f64]),
    /// Codes into `levels`; [`MISSING_CODE`] is missing.
    Categorical {
        /// One code per row.
        codes: &'a [u32],
        /// Level names, indexed by code.
        levels: &'a [String],
    },
}

impl Feature<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Feature::Numeric(v) => v.len(),
            Feature::Categorical { codes, .. } => codes.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// "numeric" or "categorical", for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Feature::Numeric(_) => "numeric",
            Feature::Categorical { .. } => "categorical",
        }
    }
}

/// A named variable, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct NamedFeature<'a> {
    /// Column name.
    pub name: &'a str,
    /// Its values.
    pub feature: Feature<'a>,
}

/// An owned column (what the CSV reader produces).
#[derive(Debug, Clone)]
pub struct Column {
    /// Column name from the header.
    pub name: String,
    /// Values.
    pub data: ColumnData,
}

/// Owned values of a [`Column`].
#[derive(Debug, Clone)]
pub enum ColumnData {
    /// Numeric, `NaN` missing.
    Numeric(Vec<f64>),
    /// Categorical codes and their levels.
    Categorical {
        /// One code per row, [`MISSING_CODE`] for missing.
        codes: Vec<u32>,
        /// Level names by code.
        levels: Vec<String>,
    },
}

impl Column {
    /// Borrow as a [`NamedFeature`].
    pub fn named(&self) -> NamedFeature<'_> {
        NamedFeature {
            name: &self.name,
            feature: match &self.data {
                ColumnData::Numeric(v) => Feature::Numeric(v),
                ColumnData::Categorical { codes, levels } => Feature::Categorical { codes, levels },
            },
        }
    }

    /// Keep only the rows in `idx` (for cross-validation folds).
    pub fn take(&self, idx: &[usize]) -> Column {
        Column {
            name: self.name.clone(),
            data: match &self.data {
                ColumnData::Numeric(v) => ColumnData::Numeric(idx.iter().map(|&i| v[i]).collect()),
                ColumnData::Categorical { codes, levels } => ColumnData::Categorical {
                    codes: idx.iter().map(|&i| codes[i]).collect(),
                    levels: levels.clone(),
                },
            },
        }
    }
}
